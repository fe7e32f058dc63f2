#include "ops/cpu/embedding.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/cpu/dispatch.h"
#include "ops/embedding_checks.h"

namespace octet::cpu {
namespace {

constexpr int64_t kMinParallelElements = 1 << 15;

// Validates every index on the calling thread: an exception must not escape an OpenMP region.
EmbeddingTable check(const char* op, const View& indices, const View& weight,
                     const View& rows_view) {
  const EmbeddingTable t = check_embedding_layout(op, indices, weight, rows_view);
  const int64_t* idx = indices.ptr<int64_t>();
  for (int64_t n = 0; n < indices.numel(); ++n)
    if (idx[n] < 0 || idx[n] >= t.rows) throw_embedding_index(op, idx[n], n, weight);
  return t;
}

}  // namespace

// A plain row copy, so any dtype works (the runtime gathers from quantised tables too).
void embedding_forward(const View& indices, const View& weight, const View& out) {
  const EmbeddingTable t = check("embedding", indices, weight, out);
  const int64_t* idx = indices.ptr<int64_t>();
  const int64_t count = indices.numel();
  const size_t row_bytes = static_cast<size_t>(t.dim) * dtype_size(weight.dtype);
  const char* src = static_cast<const char*>(weight.data);
  char* dst = static_cast<char*>(out.data);
#pragma omp parallel for schedule(static) if (count * t.dim >= kMinParallelElements)
  for (int64_t n = 0; n < count; ++n)
    std::memcpy(dst + n * row_bytes, src + idx[n] * row_bytes, row_bytes);
}

void embedding_backward(const View& grad_out, const View& indices, const View& grad_weight) {
  const EmbeddingTable t = check("embedding_backward", indices, grad_weight, grad_out);
  const int64_t* idx = indices.ptr<int64_t>();
  const int64_t count = indices.numel();
  // Counting sort of positions by table row; stable, so each row sums its positions in order.
  std::vector<int64_t> start(t.rows + 1, 0);
  for (int64_t n = 0; n < count; ++n) ++start[idx[n] + 1];
  for (int64_t v = 0; v < t.rows; ++v) start[v + 1] += start[v];
  std::vector<int64_t> order(count);
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t n = 0; n < count; ++n) order[fill[idx[n]]++] = n;
  }
  dispatch_float(grad_weight.dtype, "embedding_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* g = grad_out.ptr<T>();
    T* gw = grad_weight.ptr<T>();
    const int64_t d = t.dim;
    const int64_t work = (t.rows + count) * d;
    // Dynamic: a few frequent tokens own most positions; ownership, not order, is what keeps the
    // sums deterministic.
#pragma omp parallel for schedule(dynamic, 8) if (work >= kMinParallelElements)
    for (int64_t v = 0; v < t.rows; ++v) {
      T* row = gw + v * d;
      std::fill(row, row + d, T(0));
      for (int64_t k = start[v]; k < start[v + 1]; ++k) {
        const T* src = g + order[k] * d;
#pragma omp simd
        for (int64_t i = 0; i < d; ++i) row[i] += src[i];
      }
    }
  });
}

}  // namespace octet::cpu
