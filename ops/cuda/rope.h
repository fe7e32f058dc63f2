#pragma once
// The CUDA twin of ops/cpu/rope.h: the same [B, H, T, D] layout rules (unit last stride, any other
// strides, out may alias x), base, offset and inverse.
#include <cstdint>

#include "ops/view.h"

namespace octet::cuda {

// The rotation angles are evaluated exactly in double for every (position, pair) and rounded to
// the dtype; the CPU steps them from anchors every 16 positions, which differs by a few double
// ulps before that rounding.
void rope(const View& x, double base, int64_t offset, bool inverse, const View& out);

}  // namespace octet::cuda
