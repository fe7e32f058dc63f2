#pragma once
// Reductions on a CUDA device: the twins of ops/cpu/reduce.h. `out` has the rank of `in` with
// size 1 on every reduced dimension (keepdim form), as on the CPU; NaN propagates through
// max/min/amax as there. Accumulation differs where the CPU's does not fit a GPU: sums of f64
// accumulate in double, sums of f32 in float (the CPU sums both in double): each thread folds a
// run of elements (at most a few hundred where runs are serial chunks), then the runs merge in a
// fixed tree or chunk order. The order depends on the shape alone, so results are reproducible,
// and an f32 sum differs from the CPU's by a few float roundings of the summed magnitudes
// (sum |x|), not of the sum itself.
#include "ops/cpu/reduce.h"
#include "ops/view.h"

namespace octet::cuda {

using cpu::ReduceOp;

void reduce(ReduceOp op, const View& in, const View& out);
// Index of the largest element along the last dimension; out is i64 with in's shape minus it.
// Same answer as the CPU's std::max_element: the first maximum, NaNs skipped unless the first
// element is NaN (then 0).
void argmax_last(const View& in, const View& out);

}  // namespace octet::cuda
