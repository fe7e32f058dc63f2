#pragma once
// Rotary position embedding (the half-split form of GPT-NeoX and Hugging Face LLaMA).
#include <cstdint>

#include "ops/view.h"

namespace octet::cpu {

// x, out: [B, H, T, D] (D even) of one floating dtype, each with a unit stride in the last
// dimension and any strides elsewhere (q and k straight out of a [B, T, H, D] projection need no
// copy). The pair (i, i + D/2) of position t is rotated by the angle (offset + t) * base^(-2i/D);
// `inverse` rotates by the negative angle, which is the backward (the rotation is orthogonal).
// out may alias x exactly (in place).
void rope(const View& x, double base, int64_t offset, bool inverse, const View& out);

}  // namespace octet::cpu
