#pragma once
// Per-scale range statistics on a CUDA device: the twins of ops/quant/range.h (same arguments,
// device pointers in and out, plus the device), with the same NaN rule: a NaN among a scale's
// elements makes its min, max and amax NaN; +-inf are ordinary values; a scale with no elements
// gets min = +inf, max = -inf, amax = 0. One difference, invisible to every scale rule: a zero
// min or max is always +0 here, where the CPU keeps the sign of whichever zero it saw first.
#include <cstdint>

#include "ops/quant/quant_spec.h"

namespace octet::cuda {

void min_max(const float* x, int64_t n, const quant::ScaleLayout& layout, float* mins, float* maxs,
             int device);

// amaxs[c] = max |x| over scale c's elements.
void abs_max(const float* x, int64_t n, const quant::ScaleLayout& layout, float* amaxs, int device);

}  // namespace octet::cuda
