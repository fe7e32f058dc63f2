#pragma once
// Shared by the .cu files of ops/cuda/: launch geometry, strided indexing and the 16-bit float
// conversions that must round exactly as the CPU's (ops/dtype.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "ops/error.h"
#include "ops/view.h"

namespace octet::cuda {

constexpr int kMaxRank = 8;
constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements: enough to fill the device, capped so a huge n
// does not launch millions of blocks that each do one element.
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65535LL * 8) b = 65535LL * 8;
  return static_cast<unsigned>(b);
}

// Whether p may be read as `bytes`-wide vectors (float4, uint2, ...).
inline bool is_aligned(const void* p, uintptr_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

// The shape and up to three stride vectors of a strided elementwise op, passed by value to a
// kernel. Element i (in row-major order of the shape) sits at offset(i, k) in operand k.
template <int N>
struct StridedIndex {
  int rank = 0;
  int64_t size[kMaxRank];
  int64_t stride[N][kMaxRank];

  __host__ __device__ int64_t offset(int64_t i, int k) const {
    int64_t off = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t idx = i % size[d];
      i /= size[d];
      off += idx * stride[k][d];
    }
    return off;
  }
};

// Fills a StridedIndex from a shape and N stride vectors of the same rank.
template <int N>
StridedIndex<N> make_index(const char* op, const Shape& shape, const Shape* const (&strides)[N]) {
  OCTET_CHECK(shape.size() <= kMaxRank, op, "rank ", shape.size(), " exceeds the CUDA limit of ",
              kMaxRank);
  StridedIndex<N> ix{};
  ix.rank = static_cast<int>(shape.size());
  for (int d = 0; d < ix.rank; ++d) {
    ix.size[d] = shape[d];
    for (int k = 0; k < N; ++k) ix.stride[k][d] = (*strides[k])[d];
  }
  return ix;
}

__device__ inline uint16_t f32_to_bf16_bits(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
__device__ inline float bf16_bits_to_f32(uint16_t h) {
  return __uint_as_float(static_cast<uint32_t>(h) << 16);
}

}  // namespace octet::cuda
