#pragma once
// Host helpers shared by the elementwise and reduction kernels of ops/cuda/: checking that views
// share one CUDA device, and strided indices with their dimensions coalesced, so a contiguous or
// simply broadcast operand costs one or two div/mod per element instead of one per dimension.
#include <initializer_list>

#include "ops/cuda/indexing.cuh"
#include "ops/error.h"
#include "ops/view.h"

namespace octet::cuda {

// The index of the one CUDA device all `views` live on; throws naming `op` otherwise.
inline int device_of(const char* op, std::initializer_list<const View*> views) {
  const Device first = (*views.begin())->device;
  OCTET_CHECK(first.type == DeviceType::cuda, op, "the CUDA kernel got a view on ", first.str());
  for (const View* v : views)
    OCTET_CHECK(v->device == first, op, "views on ", first.str(), " and ", v->device.str());
  return first.index;
}

// make_index with size-1 dimensions dropped and neighbours merged where every operand steps
// through them as through one dimension (stride[d] == stride[d + 1] * size[d + 1]). Element i in
// row-major order of `shape` keeps its offsets.
template <int N>
StridedIndex<N> make_coalesced_index(const char* op, const Shape& shape,
                                     const Shape* const (&strides)[N]) {
  Shape size;
  Shape st[N];
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    const bool merge = !size.empty() && [&] {
      for (int k = 0; k < N; ++k)
        if (st[k].back() != (*strides[k])[d] * shape[d]) return false;
      return true;
    }();
    if (merge) {
      size.back() *= shape[d];
      for (int k = 0; k < N; ++k) st[k].back() = (*strides[k])[d];
    } else {
      size.push_back(shape[d]);
      for (int k = 0; k < N; ++k) st[k].push_back((*strides[k])[d]);
    }
  }
  const Shape* merged[N];
  for (int k = 0; k < N; ++k) merged[k] = &st[k];
  return make_index<N>(op, size, merged);
}

// The offsets of element i in all N operands from one walk over the dimensions (the div/mod
// are shared; StridedIndex::offset repeats them per operand). Below 2^32 elements the walk
// divides in 32 bits: a 64-bit division is a long software sequence on the GPU, and these
// divisions were most of a strided copy's time.
template <int N>
__device__ inline void offsets_of(const StridedIndex<N>& ix, int64_t i, int64_t (&off)[N]) {
  for (int k = 0; k < N; ++k) off[k] = 0;
  if (i >= 0 && i <= int64_t{0xffffffff}) {
    uint32_t rest = static_cast<uint32_t>(i);
    for (int d = ix.rank - 1; d >= 0; --d) {
      // A dimension of 2^32 or more is longer than what is left of the index: all of it is idx.
      const int64_t size = ix.size[d];
      const uint32_t q = size > int64_t{0xffffffff} ? 0u : rest / static_cast<uint32_t>(size);
      const uint32_t idx = rest - q * static_cast<uint32_t>(size > int64_t{0xffffffff} ? 0 : size);
      rest = q;
      for (int k = 0; k < N; ++k) off[k] += static_cast<int64_t>(idx) * ix.stride[k][d];
    }
    return;
  }
  for (int d = ix.rank - 1; d >= 0; --d) {
    const int64_t idx = i % ix.size[d];
    i /= ix.size[d];
    for (int k = 0; k < N; ++k) off[k] += idx * ix.stride[k][d];
  }
}

}  // namespace octet::cuda
