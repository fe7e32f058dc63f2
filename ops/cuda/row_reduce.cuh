#pragma once
// Block-wide reductions for the row kernels of ops/cuda/ (softmax, norms): one thread block owns
// one row, each thread folds its strided share of the row, and the block combines the partials
// through warp shuffles and 32 slots of shared memory. Every thread of the block gets the result.
// A block's threads must all call these (they synchronise), with blockDim.x a multiple of 32.
#include <cmath>
#include <cstdint>

namespace octet::cuda {

// Threads for a block that owns one row of `cols` elements: enough for one element each on short
// rows (a causal row of 64 should not wake 256 threads), capped for long ones.
inline int row_threads(int64_t cols, int cap = 512) {
  int64_t t = (cols + 31) / 32 * 32;
  if (t < 32) t = 32;
  if (t > cap) t = cap;
  return static_cast<int>(t);
}

// Blocks for a grid that walks `rows` rows, one block per row at a time.
inline unsigned row_blocks(int64_t rows) {
  const int64_t cap = 1 << 20;
  return static_cast<unsigned>(rows < 1 ? 1 : (rows > cap ? cap : rows));
}

template <typename T>
__device__ inline T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// The larger of two values the way the CPU's row_max takes it (x > m ? x : m): a NaN never wins
// the comparison, and the NaN then reaches the output through exp(NaN - m) instead.
template <typename T>
__device__ inline T max_of(T a, T b) {
  return b > a ? b : a;
}

template <typename T>
__device__ inline T warp_max(T v) {
  for (int o = 16; o > 0; o >>= 1) v = max_of(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

template <typename T, bool kMax>
__device__ T block_reduce(T v, T identity) {
  __shared__ T slots[32];
  v = kMax ? warp_max(v) : warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  // The slots may still be read by a previous reduction's final broadcast.
  __syncthreads();
  if (lane == 0) slots[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < static_cast<int>(blockDim.x >> 5) ? slots[lane] : identity;
    v = kMax ? warp_max(v) : warp_sum(v);
    if (lane == 0) slots[0] = v;
  }
  __syncthreads();
  return slots[0];
}

template <typename T>
__device__ inline T block_sum(T v) {
  return block_reduce<T, false>(v, T(0));
}

template <typename T>
__device__ inline T block_max(T v) {
  return block_reduce<T, true>(v, -T(INFINITY));
}

// e^x and log x in the row's own precision (libdevice's accurate versions, not the fast
// intrinsics: the results are compared with the CPU's to 1e-5 in f32 and 1e-12 in f64).
__device__ inline float row_exp(float x) { return expf(x); }
__device__ inline double row_exp(double x) { return exp(x); }
__device__ inline float row_log(float x) { return logf(x); }
__device__ inline double row_log(double x) { return log(x); }

}  // namespace octet::cuda
