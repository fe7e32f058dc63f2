#pragma once
// The operands of embedding's gather and scatter, for every device: the CPU and CUDA kernels
// check them with the same rule and the same words (ops/cpu/embedding.cpp, ops/cuda/embedding.cu).
// Index ranges are each device's to scan; the message for a bad one is shared here.
#include <cstdint>

#include "ops/error.h"
#include "ops/view.h"

namespace octet {

struct EmbeddingTable {
  int64_t rows = 0;
  int64_t dim = 0;
};

// Contiguous i64 indices, a contiguous [V, D] table, and contiguous rows of indices.numel() * D
// elements of the table's dtype.
inline EmbeddingTable check_embedding_layout(const char* op, const View& indices,
                                             const View& weight, const View& rows_view) {
  OCTET_CHECK(indices.dtype == DType::i64 && indices.is_contiguous(), op,
              "indices must be contiguous i64, got ", dtype_name(indices.dtype),
              shape_str(indices.shape));
  OCTET_CHECK(weight.dim() == 2 && weight.is_contiguous(), op,
              "weight must be a contiguous [V, D] table, got ", shape_str(weight.shape));
  const EmbeddingTable t{weight.shape[0], weight.shape[1]};
  OCTET_CHECK(rows_view.is_contiguous() && rows_view.numel() == indices.numel() * t.dim, op,
              "rows ", shape_str(rows_view.shape), " do not fit indices ", shape_str(indices.shape),
              " and weight ", shape_str(weight.shape));
  OCTET_CHECK(weight.dtype == rows_view.dtype, op, "dtypes differ: ", dtype_name(weight.dtype),
              shape_str(weight.shape), " vs ", dtype_name(rows_view.dtype),
              shape_str(rows_view.shape));
  return t;
}

[[noreturn]] inline void throw_embedding_index(const char* op, int64_t index, int64_t position,
                                               const View& weight) {
  throw Error(op, detail::concat("index ", index, " at position ", position,
                                 " is out of range for a table of ", weight.shape[0], " rows ",
                                 shape_str(weight.shape)));
}

}  // namespace octet
