#pragma once
// Device-side strided copy with dtype conversion, and fill: the CUDA twins of ops/cpu/copy.h,
// with the same conversions (bf16 rounds to nearest even exactly as f32_to_bf16 does; float to
// integer truncates toward zero). Both views must be on the same CUDA device.
#include "ops/view.h"

namespace octet::cuda {

void copy(const View& src, const View& dst);
void fill(const View& dst, double value);

}  // namespace octet::cuda
