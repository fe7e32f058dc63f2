#pragma once
// Reductions over any set of dimensions. `out` has the rank of `in`, with size 1 on every reduced
// dimension (keepdim form; callers reshape).
#include "ops/view.h"

namespace octet::cpu {

enum class ReduceOp { sum, max, min, amax /* max |x| */ };

void reduce(ReduceOp op, const View& in, const View& out);
// Index of the largest element along the last dimension; out is i64 with in's shape minus it.
void argmax_last(const View& in, const View& out);

}  // namespace octet::cpu
