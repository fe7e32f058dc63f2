#pragma once
// Shapes of the row-wise ops (softmax and its kin), for every device: a tensor is a batch of rows
// along its last dimension, and the row-wise kernels of ops/cpu/ and ops/cuda/ check their views
// with the same rule and the same words.
#include <initializer_list>

#include "ops/error.h"
#include "ops/view.h"

namespace octet {

// The length of a row (1 for a scalar) and how many rows there are.
inline int64_t last_dim(const View& v) { return v.dim() ? v.shape.back() : 1; }
inline int64_t rows_of(const View& v) {
  const int64_t cols = last_dim(v);
  return cols ? v.numel() / cols : 0;
}

// Every view has the shape, dtype and device of the first, and all are contiguous.
inline void check_rows(const char* op, std::initializer_list<const View*> views) {
  const View& first = **views.begin();
  OCTET_CHECK(first.dim() >= 1, op, "needs at least one dimension, got a scalar");
  for (const View* v : views) {
    OCTET_CHECK(v->dtype == first.dtype, op, "dtypes differ: ", dtype_name(first.dtype),
                shape_str(first.shape), " vs ", dtype_name(v->dtype), shape_str(v->shape));
    OCTET_CHECK(v->shape == first.shape, op, "shapes differ: ", shape_str(first.shape), " vs ",
                shape_str(v->shape));
    OCTET_CHECK(v->is_contiguous(), op, "needs contiguous rows, got strides ",
                shape_str(v->strides), " for ", shape_str(v->shape));
    OCTET_CHECK(v->device == first.device, op, "operands on ", first.device.str(), " and ",
                v->device.str());
  }
}

// cross_entropy's operands: contiguous logits [N, C], i64 targets [N], and per-row outputs [N] of
// the logits' dtype (devices are the caller's to check).
inline void check_cross_entropy_shapes(const View& logits, const View& targets,
                                       std::initializer_list<const View*> per_row) {
  OCTET_CHECK(logits.dim() == 2 && logits.is_contiguous(), "cross_entropy",
              "logits must be contiguous [N, C], got ", shape_str(logits.shape));
  OCTET_CHECK(targets.dtype == DType::i64, "cross_entropy", "targets must be i64, got ",
              dtype_name(targets.dtype));
  OCTET_CHECK(targets.shape == Shape{logits.shape[0]} && targets.is_contiguous(), "cross_entropy",
              "targets ", shape_str(targets.shape), " must be contiguous [N] for logits ",
              shape_str(logits.shape));
  for (const View* v : per_row) {
    OCTET_CHECK(v->dtype == logits.dtype, "cross_entropy",
                "dtypes differ: ", dtype_name(logits.dtype), shape_str(logits.shape), " vs ",
                dtype_name(v->dtype), shape_str(v->shape));
    OCTET_CHECK(v->shape == targets.shape && v->is_contiguous(), "cross_entropy", "per-row output ",
                shape_str(v->shape), " must be contiguous [N]");
  }
}

}  // namespace octet
