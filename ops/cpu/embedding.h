#pragma once
// Embedding lookup: rows of a [V, D] table picked by i64 indices, and its adjoint.
#include "ops/view.h"

namespace octet::cpu {

// out[n, :] = weight[indices[n], :]. indices: contiguous i64, any shape, N elements;
// weight: contiguous [V, D] of any dtype; out: contiguous, same dtype, N * D elements. Throws
// naming the first index outside [0, V) before touching `out`.
void embedding_forward(const View& indices, const View& weight, const View& out);
// grad_weight[v, :] = sum of grad_out[n, :] over n with indices[n] == v, in increasing n, and
// zero for rows never picked (f32/f64). Overwrites grad_weight; bitwise deterministic for any
// thread count because each row is owned by one thread (the indices are bucketed by row first).
void embedding_backward(const View& grad_out, const View& indices, const View& grad_weight);

}  // namespace octet::cpu
