#pragma once
// Walks N strided operands of one shape row by row: the innermost dimension is a plain loop the
// compiler can vectorise, the outer ones are flattened into a row index that OpenMP splits across
// threads. Broadcasting is a stride of 0.
#include <array>
#include <cstdint>

#include "ops/view.h"

namespace octet::cpu {

template <size_t N>
struct RowCursor {
  std::array<int64_t, N> offset;  // element offset of the row's first element, per operand
  std::array<int64_t, N> step;    // inner stride, per operand
  int64_t length;                 // elements in the row
};

// fn(const RowCursor<N>&) is called once per row; rows may run in parallel.
template <size_t N, typename Fn>
void for_each_row(const Shape& shape, const std::array<const Shape*, N>& strides, Fn&& fn,
                  int64_t min_parallel_elements = 1 << 15) {
  const int64_t dims = static_cast<int64_t>(shape.size());
  RowCursor<N> base{};
  if (dims == 0) {
    base.length = 1;
    fn(base);
    return;
  }
  const int64_t inner = shape[dims - 1];
  for (size_t k = 0; k < N; ++k) base.step[k] = (*strides[k])[dims - 1];
  base.length = inner;
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < dims; ++d) rows *= shape[d];
  if (rows == 0 || inner == 0) return;
  const bool parallel = rows > 1 && rows * inner >= min_parallel_elements;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < rows; ++r) {
    RowCursor<N> cur = base;
    int64_t rem = r;
    for (size_t k = 0; k < N; ++k) cur.offset[k] = 0;
    for (int64_t d = dims - 2; d >= 0; --d) {
      const int64_t idx = rem % shape[d];
      rem /= shape[d];
      for (size_t k = 0; k < N; ++k) cur.offset[k] += idx * (*strides[k])[d];
    }
    fn(cur);
  }
}

}  // namespace octet::cpu
