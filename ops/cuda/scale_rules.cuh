#pragma once
// Device copies of the scale rules of ops/quant/scale_rules.h (fp8_scale, int_qparams), for
// kernels that turn reduced statistics into scales without a trip to the host (current scaling,
// observers). The CPU functions stay the definitions: same float operations in the same order,
// checked bit for bit by tests/gpu/cuda_quant_test.cpp and cuda_observer_test.cpp. Where
// int_qparams throws (a non-finite or inverted range) the device rule, which cannot, gives NaN.
#include <cstdint>

#include "ops/quant/scale_rules.h"

namespace octet::cuda::rules {

// fp8_scale: s = ldexp(fp8_max / amax, -margin); the previous scale when amax is 0, negative,
// infinite or NaN, or when s is not finite.
__device__ __forceinline__ float fp8_scale(float fp8_max, float amax, float previous_scale,
                                           int margin) {
  if (!(amax > 0.0f) || !isfinite(amax)) return previous_scale;
  const float s = ldexpf(__fdiv_rn(fp8_max, amax), -margin);
  return isfinite(s) ? s : previous_scale;
}

// What quant::int_qparams needs of a spec, as floats (its own conversions, made on the host).
struct IntRule {
  float qmin, qmax;
  float symmetric_zero_point;  // (qmin + qmax) / 2 in integers for unsigned ranges, else 0
  float min_scale;             // quant::kMinScale, passed in rather than read from host memory
  bool symmetric;
};

inline IntRule int_rule_of(const quant::QuantSpec& spec) {
  IntRule r;
  r.qmin = static_cast<float>(spec.qmin);
  r.qmax = static_cast<float>(spec.qmax);
  r.symmetric_zero_point =
      spec.qmin >= 0 ? static_cast<float>(static_cast<int32_t>((spec.qmin + spec.qmax) / 2)) : 0.0f;
  r.min_scale = quant::kMinScale;
  r.symmetric = spec.symmetric;
  return r;
}

__device__ __forceinline__ float device_nan() { return __int_as_float(0x7fc00000); }

// quant::int_qparams (ops/quant/scale_rules.cpp) with the same float operations in the same
// order; std::min, std::max and std::clamp spelled as the comparisons libstdc++ makes
// (std::max(a, b) is a < b ? b : a, std::min(a, b) is b < a ? b : a). Where the CPU throws (a
// non-finite or inverted range) both outputs are NaN.
__device__ inline void int_qparams(const IntRule& r, float min_val, float max_val, float& scale,
                                   float& zero_point) {
  if (!isfinite(min_val) || !isfinite(max_val) || !(min_val <= max_val)) {
    scale = zero_point = device_nan();
    return;
  }
  const float lo = 0.0f < min_val ? 0.0f : min_val;  // std::min(min_val, 0.0f)
  const float hi = max_val < 0.0f ? 0.0f : max_val;  // std::max(max_val, 0.0f)
  if (r.symmetric) {
    const float amax = -lo < hi ? hi : -lo;  // std::max(-lo, hi)
    const float s = __fdiv_rn(amax, __fdiv_rn(__fsub_rn(r.qmax, r.qmin), 2.0f));
    scale = s < r.min_scale ? r.min_scale : s;  // std::max(s, kMinScale)
    zero_point = r.symmetric_zero_point;
    return;
  }
  const float s = __fdiv_rn(__fsub_rn(hi, lo), __fsub_rn(r.qmax, r.qmin));
  scale = s < r.min_scale ? r.min_scale : s;
  // zp = qmin - nearbyint(lo / s), clamped; rintf rounds half to even as nearbyint does in the
  // default rounding mode. z is an integer in [qmin, qmax], so the CPU's round trip through
  // int32_t changes nothing.
  const float z = __fsub_rn(r.qmin, rintf(__fdiv_rn(lo, scale)));
  zero_point = z < r.qmin ? r.qmin : (r.qmax < z ? r.qmax : z);
}

}  // namespace octet::cuda::rules
