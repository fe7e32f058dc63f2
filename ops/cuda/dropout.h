#pragma once
// The CUDA twin of ops/cpu/dropout.h. The keep mask is still drawn on the host by the framework's
// Generator (and copied to the device), so a seed gives the same mask on either device.
#include "ops/view.h"

namespace octet::cuda {

// out = x * (keep * scale); x, out: contiguous, one floating dtype; keep: contiguous u8 0/1.
void dropout_apply(const View& x, const View& keep, double scale, const View& out);

}  // namespace octet::cuda
