#pragma once
// NumPy broadcasting: shapes align at the right; a dimension of 1 stretches (stride 0).
#include "ops/view.h"

namespace octet::cpu {

// The broadcast shape of a and b; throws naming `op` and both shapes when they are incompatible.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);
// `v` seen with `shape` (which it must broadcast to): stride 0 on stretched dimensions.
View broadcast_to(const View& v, const Shape& shape);

}  // namespace octet::cpu
