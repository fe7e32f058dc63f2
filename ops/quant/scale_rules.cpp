#include "ops/quant/scale_rules.h"

#include <algorithm>
#include <cmath>

#include "ops/error.h"

namespace octet::quant {

IntQParams int_qparams(const QuantSpec& spec, float min_val, float max_val, const char* where) {
  OCTET_CHECK(spec.format == Format::kInt, where, "integer qparams asked for ", spec.str());
  OCTET_CHECK(std::isfinite(min_val) && std::isfinite(max_val), where, "observed range [", min_val,
              ", ", max_val, "] is not finite");
  OCTET_CHECK(min_val <= max_val, where, "observed min ", min_val, " exceeds max ", max_val);
  const float lo = std::min(min_val, 0.0f);
  const float hi = std::max(max_val, 0.0f);
  const float qmin = static_cast<float>(spec.qmin), qmax = static_cast<float>(spec.qmax);
  IntQParams p;
  if (spec.symmetric) {
    const float amax = std::max(-lo, hi);
    p.scale = std::max(amax / ((qmax - qmin) / 2.0f), kMinScale);
    p.zero_point = spec.qmin >= 0 ? static_cast<int32_t>((spec.qmin + spec.qmax) / 2) : 0;
  } else {
    p.scale = std::max((hi - lo) / (qmax - qmin), kMinScale);
    const float zp = qmin - std::nearbyint(lo / p.scale);
    p.zero_point = static_cast<int32_t>(std::clamp(zp, qmin, qmax));
  }
  return p;
}

float fp8_scale(const QuantSpec& spec, float amax, float previous_scale, int margin) {
  OCTET_CHECK(spec.is_fp8(), "fp8_scale", "FP8 scale asked for ", spec.str());
  if (!(amax > 0.0f) || !std::isfinite(amax)) return previous_scale;
  const float s = std::ldexp(static_cast<float>(spec.max_representable()) / amax, -margin);
  // A subnormal amax overflows the scale; that is as unusable as amax = 0.
  return std::isfinite(s) ? s : previous_scale;
}

}  // namespace octet::quant
