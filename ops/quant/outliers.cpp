#include "ops/quant/outliers.h"

#include <omp.h>

#include "ops/error.h"
#include "ops/quant/range.h"

namespace octet::quant {
namespace {

// Below this many elements copied, a second thread costs more than it saves.
constexpr int64_t kParallelThreshold = int64_t{1} << 16;

int threads_for(int64_t n) { return n >= kParallelThreshold ? omp_get_max_threads() : 1; }

}  // namespace

void column_abs_max(const float* x, int64_t rows, int64_t cols, float* amax) {
  OCTET_CHECK(rows >= 0 && cols >= 0, "column_abs_max", "negative shape [", rows, ", ", cols, "]");
  if (cols == 0) return;
  // One scale per column with runs of one element: range.h reduces such layouts across rows,
  // vectorised along the row, which is exactly a column-wise reduction.
  ScaleLayout layout;
  layout.inner = 1;
  layout.count = cols;
  layout.scale_shape = {cols};
  abs_max(x, rows * cols, layout, amax);
}

std::vector<int64_t> columns_above(const float* amax, int64_t cols, float threshold) {
  std::vector<int64_t> out;
  for (int64_t c = 0; c < cols; ++c) {
    if (amax[c] > threshold) out.push_back(c);
  }
  return out;
}

void check_columns(const char* op, const int64_t* columns, int64_t k, int64_t cols) {
  OCTET_CHECK(k >= 0 && k <= cols, op, k, " columns selected out of ", cols);
  for (int64_t i = 0; i < k; ++i) {
    OCTET_CHECK(columns[i] >= 0 && columns[i] < cols, op, "column ", columns[i], " is outside [0, ",
                cols, ")");
    OCTET_CHECK(i == 0 || columns[i] > columns[i - 1], op,
                "columns must be ascending and unique, got ", columns[i - 1], " then ", columns[i]);
  }
}

std::vector<int64_t> complement_columns(const std::vector<int64_t>& columns, int64_t cols) {
  const int64_t k = static_cast<int64_t>(columns.size());
  check_columns("complement_columns", columns.data(), k, cols);
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(cols - k));
  size_t next = 0;
  for (int64_t c = 0; c < cols; ++c) {
    if (next < columns.size() && columns[next] == c) {
      ++next;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void gather_columns(const float* x, int64_t rows, int64_t cols, const int64_t* columns, int64_t k,
                    float* out) {
  check_columns("gather_columns", columns, k, cols);
#pragma omp parallel for num_threads(threads_for(rows* k))
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = x + r * cols;
    float* dst = out + r * k;
    for (int64_t i = 0; i < k; ++i) dst[i] = src[columns[i]];
  }
}

void scatter_add_columns(const float* src, int64_t rows, int64_t k, const int64_t* columns,
                         int64_t cols, float* out) {
  check_columns("scatter_add_columns", columns, k, cols);
#pragma omp parallel for num_threads(threads_for(rows* k))
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * k;
    float* dst = out + r * cols;
    for (int64_t i = 0; i < k; ++i) dst[columns[i]] += s[i];
  }
}

}  // namespace octet::quant
