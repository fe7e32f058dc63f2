#pragma once
// Applying a dropout mask; drawing it is the caller's job (it needs the framework's Generator,
// and drawing on one thread is what makes a run reproducible).
#include "ops/view.h"

namespace octet::cpu {

// out = x * keep * scale. x, out: contiguous, one floating dtype; keep: contiguous u8 of 0s and 1s
// with x's element count. Serves the forward (x) and the backward (the incoming gradient).
void dropout_apply(const View& x, const View& keep, double scale, const View& out);

}  // namespace octet::cpu
