#pragma once
// LLM.int8()'s column bookkeeping on a CUDA device: the twins of ops/quant/outliers.h. Matrices
// are device pointers (contiguous, row-major [rows, cols]); column lists are HOST arrays (they
// come from quant::columns_above on the host copy of column_abs_max's few values), checked with
// quant::check_columns and uploaded by the launcher. The outputs equal the CPU's exactly.
#include <cstdint>
#include <vector>

namespace octet::cuda {

// amax[c] = max over rows of |x[r, c]| (device out); NaN in a column makes it NaN; rows = 0: 0.
void column_abs_max(const float* x, int64_t rows, int64_t cols, float* amax, int device);

// out [rows, k] = x[:, columns].
void gather_columns(const float* x, int64_t rows, int64_t cols, const int64_t* columns, int64_t k,
                    float* out, int device);

// out [rows, cols - k] = the columns of x NOT in `columns` (quant::complement_columns), in order.
void gather_complement_columns(const float* x, int64_t rows, int64_t cols,
                               const std::vector<int64_t>& columns, float* out, int device);

// out[:, columns] += src, src [rows, k], out [rows, cols].
void scatter_add_columns(const float* src, int64_t rows, int64_t k, const int64_t* columns,
                         int64_t cols, float* out, int device);

}  // namespace octet::cuda
