#pragma once
// Scales computed from the tensor being quantized (ScaleSource::kCurrent): what dynamic per-token
// quantization in the runtime and current scaling in fake-quant both use, so the deployed model
// and the training model derive the same scale from the same activations.
#include <cstdint>
#include <functional>

#include "ops/quant/quant_spec.h"

namespace octet::quant {

// For x (contiguous f32, n elements) laid out by `layout`: integer specs get min/max ->
// int_qparams per scale (zero_points, if not null, receive the integer zero points as floats;
// symmetric specs give 0); FP8 specs get amax -> fp8_scale with 1 as the previous scale, so an
// all-zero run keeps scale 1 (any scale represents zeros exactly). Throws naming `where` on
// non-finite integer ranges.
//
// `merge_max`, when given, sees the per-scale statistics before the rule turns them into scales
// (amax for FP8; -min then max, 2 * count values, for integers) and may replace them by larger
// ones: data parallelism all-reduces them (MAX) so every rank derives the global batch's scales.
using StatisticsMerge = std::function<void(float* values, int64_t count)>;
// Merges per-scale ranges [lo[c], hi[c]] (count of each) through `merge_max` as one array of
// -lo then hi, so a maximum widens both ends; observers merge their batch ranges the same way.
void merge_ranges(float* lo, float* hi, int64_t count, const StatisticsMerge& merge_max);
void current_scales(const QuantSpec& spec, const float* x, int64_t n, const ScaleLayout& layout,
                    float* scales, float* zero_points, const char* where,
                    const StatisticsMerge& merge_max = {});

}  // namespace octet::quant
