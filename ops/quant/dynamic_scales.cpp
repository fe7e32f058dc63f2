#include "ops/quant/dynamic_scales.h"

#include <vector>

#include "ops/quant/range.h"
#include "ops/quant/scale_rules.h"

namespace octet::quant {

void merge_ranges(float* lo, float* hi, int64_t count, const StatisticsMerge& merge_max) {
  std::vector<float> packed(static_cast<size_t>(2 * count));
  for (int64_t c = 0; c < count; ++c) {
    packed[c] = -lo[c];
    packed[count + c] = hi[c];
  }
  merge_max(packed.data(), 2 * count);
  for (int64_t c = 0; c < count; ++c) {
    lo[c] = -packed[c];
    hi[c] = packed[count + c];
  }
}

void current_scales(const QuantSpec& spec, const float* x, int64_t n, const ScaleLayout& layout,
                    float* scales, float* zero_points, const char* where,
                    const StatisticsMerge& merge_max) {
  if (spec.is_fp8()) {
    std::vector<float> amax(layout.count);
    abs_max(x, n, layout, amax.data());
    if (merge_max) merge_max(amax.data(), layout.count);
    for (int64_t c = 0; c < layout.count; ++c) scales[c] = fp8_scale(spec, amax[c], 1.0f);
    if (zero_points)
      for (int64_t c = 0; c < layout.count; ++c) zero_points[c] = 0.0f;
    return;
  }
  std::vector<float> lo(layout.count), hi(layout.count);
  min_max(x, n, layout, lo.data(), hi.data());
  if (merge_max) merge_ranges(lo.data(), hi.data(), layout.count, merge_max);
  for (int64_t c = 0; c < layout.count; ++c) {
    const IntQParams q = int_qparams(spec, lo[c], hi[c], where);
    scales[c] = q.scale;
    if (zero_points) zero_points[c] = static_cast<float>(q.zero_point);
  }
}

}  // namespace octet::quant
