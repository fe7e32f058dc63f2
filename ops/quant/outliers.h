#pragma once
// The column bookkeeping of LLM.int8()'s mixed-precision decomposition (Dettmers et al. 2022):
// find the feature columns of an activation [rows, cols] whose magnitude exceeds a threshold,
// and split a matrix into the columns that go through int8 and those kept in full precision.
// Shared by the fake-quant layer (qat/llm_int8.h), SmoothQuant's statistics and the runtime.
// Every array is contiguous, row-major [rows, cols]; column lists are ascending and unique.
#include <cstdint>
#include <vector>

namespace octet::quant {

// amax[c] = max over rows of |x[r, c]|. A NaN in a column makes its amax NaN (as range.h's
// abs_max, which this is, with one scale per column); rows = 0 gives 0.
void column_abs_max(const float* x, int64_t rows, int64_t cols, float* amax);

// The columns whose amax is strictly above threshold ("exceeds", as the paper says); NaN is not.
std::vector<int64_t> columns_above(const float* amax, int64_t cols, float threshold);

// Throws naming `op` unless columns[0..k) is ascending, unique and inside [0, cols).
void check_columns(const char* op, const int64_t* columns, int64_t k, int64_t cols);

// The columns of [0, cols) that are not in `columns` (which must pass check_columns).
std::vector<int64_t> complement_columns(const std::vector<int64_t>& columns, int64_t cols);

// out [rows, k] = x[:, columns], x [rows, cols].
void gather_columns(const float* x, int64_t rows, int64_t cols, const int64_t* columns, int64_t k,
                    float* out);

// out[:, columns] += src, src [rows, k], out [rows, cols]: the adjoint of gather_columns, and
// (into zeros, once per part) the merge of a split back into one matrix.
void scatter_add_columns(const float* src, int64_t rows, int64_t k, const int64_t* columns,
                         int64_t cols, float* out);

}  // namespace octet::quant
