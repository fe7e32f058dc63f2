#pragma once
// Per-scale range statistics (min/max and amax) of a contiguous float array, one value per scale
// of a ScaleLayout: what observers, FP8 amax histories and dynamic quantization reduce before a
// scale rule (scale_rules.h) turns the range into a scale.
//
// Element i belongs to scale (i / layout.inner) % layout.count, so n must be a multiple of
// inner * count. Outputs are overwritten (not merged), one value per scale.
//
// NaN: a NaN anywhere among a scale's elements makes that scale's min, max and amax NaN (as
// torch.aminmax and torch.amax do), so the rules downstream see it: int_qparams throws and
// fp8_scale keeps the previous scale. +-inf are ordinary values (amax = inf). A scale with no
// elements (n = 0) gets min = +inf, max = -inf, amax = 0.
//
// Vectorised over contiguous runs, threaded with OpenMP over large inputs.
#include <cstdint>

#include "ops/quant/quant_spec.h"

namespace octet::quant {

void min_max(const float* x, int64_t n, const ScaleLayout& layout, float* mins, float* maxs);

// amaxs[c] = max |x| over scale c's elements.
void abs_max(const float* x, int64_t n, const ScaleLayout& layout, float* amaxs);

}  // namespace octet::quant
