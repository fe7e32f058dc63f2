#pragma once
// Shared by the quantization kernels of ops/cuda/: where an element's scale is (the
// quant::ScaleLayout rule, element i uses scale (i / inner) % count), the zero point as the CPU
// kernels round it, and a per-scale reduction pattern for statistics and gradients.
#include <cstdint>

#include "ops/error.h"
#include "ops/quant/quant_spec.h"

namespace octet::cuda::quant_detail {

// A ScaleLayout without its std::vector, to pass to kernels by value.
struct Runs {
  int64_t inner = 1;
  int64_t count = 1;
  __device__ __forceinline__ int64_t scale_of(int64_t i) const {
    return count == 1 ? 0 : (i / inner) % count;
  }
};

inline Runs runs_of(const quant::ScaleLayout& layout, int64_t n, const char* op) {
  OCTET_CHECK(n >= 0 && layout.inner > 0 && layout.count > 0, op, "bad layout: n ", n, ", inner ",
              layout.inner, ", count ", layout.count);
  return Runs{layout.inner, layout.count};
}

// integer_zero_point (ops/quant/scale_rules.h): std::clamp(nearbyint(zp), qmin, qmax), with
// std::clamp's comparisons; null means 0.
template <typename T>
__device__ __forceinline__ T rounded_zero_point(const T* zero_point, int64_t c, T lo, T hi) {
  if (zero_point == nullptr) return T(0);
  const T v = rint(zero_point[c]);
  return v < lo ? lo : (hi < v ? hi : v);
}

// Multiplications the compiler must not fuse into a following addition (the CPU twin rounds
// the product on its own).
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }

// Floats as unsigned keys that order like the floats (-inf < ... < -0 < +0 < ... < inf), so the
// per-scale accumulators are plain atomicMin / atomicMax on 32-bit words. NaN never enters a key:
// it raises the scale's NaN flag instead.
__device__ __forceinline__ uint32_t key_of(float f) {
  const uint32_t u = __float_as_uint(__fadd_rn(f, 0.0f));  // -0 + 0 = +0: one zero
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float float_of(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// Per-scale reductions. Each thread scans one chunk of kChunk consecutive elements (so a
// thread meets few scale changes), flushing its partial to the scale's global accumulator when
// the scale changes; at the end the 32 lanes of a warp merge their partials by shuffles when they
// all end on the same scale (per tensor, long runs), so one flush per warp is the common case.
// Acc provides: merge(a, b), shfl_xor(a, lane_mask), and the kernel's flush(c, acc).
constexpr int64_t kChunk = 16;
constexpr int kReduceThreads = 256;

inline unsigned reduce_blocks(int64_t n) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  const int64_t blocks = (chunks + kReduceThreads - 1) / kReduceThreads;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

// Every thread of every block must call this (it shuffles across the full warp). visit(i, acc)
// adds element i to acc; flush(c, acc) adds acc into scale c's global accumulator.
template <typename Acc, typename Visit, typename Flush>
__device__ __forceinline__ void reduce_chunk(int64_t n, Runs runs, Acc empty, Visit visit,
                                             Flush flush) {
  const int64_t begin = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) * kChunk;
  const int64_t end = begin + kChunk < n ? begin + kChunk : n;
  int64_t c = begin < n ? runs.scale_of(begin) : -1;
  Acc acc = empty;
  for (int64_t i = begin; i < end; ++i) {
    const int64_t ci = runs.scale_of(i);
    if (ci != c) {
      flush(c, acc);
      acc = empty;
      c = ci;
    }
    visit(i, acc);
  }
  // Lanes past n adopt lane 0's scale with an empty partial, so they never split the warp.
  const unsigned full = 0xffffffffu;
  const int64_t c0 = __shfl_sync(full, c, 0);
  if (c < 0) c = c0;
  if (__all_sync(full, c == c0)) {
    for (int m = 16; m >= 1; m >>= 1) acc = Acc::merge(acc, Acc::shfl_xor(acc, m));
    if ((threadIdx.x & 31) == 0 && c >= 0) flush(c, acc);
  } else if (c >= 0) {
    flush(c, acc);
  }
}

}  // namespace octet::cuda::quant_detail
