#pragma once
// From observed statistics to scales: the closed forms every observer, PTQ scheme and the
// runtime's dynamic quantization share.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "ops/quant/quant_spec.h"

namespace octet::quant {

// The smallest scale octet produces: float32 epsilon, as PyTorch's observers floor it. Without a
// floor an all-zero tensor gives s = 0 and 1/s = inf.
inline constexpr float kMinScale = 1.1920928955078125e-07f;

struct IntQParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
};

// Scale and zero point for an integer spec from a running [min_val, max_val] (the range always
// includes 0), following PyTorch's observers:
//   symmetric: s = max(-min, max) / ((qmax - qmin) / 2), zp = 0 (for a signed range; the
//              midpoint for an unsigned one). Narrow int8 divides by 127, full int8 by 127.5.
//   affine:    s = (max - min) / (qmax - qmin), zp = clamp(qmin - nearbyint(min / s), qmin, qmax).
// s is floored at kMinScale. Non-finite statistics throw naming `where` (the observer).
IntQParams int_qparams(const QuantSpec& spec, float min_val, float max_val,
                       const char* where = "int_qparams");

// The zero point as the kernels use it: rounded half-to-even and clamped into [qmin, qmax], as
// PyTorch's learnable fake-quant does with a float zero point (LSQ learns it as a float).
template <typename T>
T integer_zero_point(T zero_point, int64_t qmin, int64_t qmax) {
  return std::clamp(std::nearbyint(zero_point), T(qmin), T(qmax));
}

// FP8 scale s = fp8_max / amax / 2^margin (multiplies on the way in). When amax is 0, infinite
// or NaN, the previous scale is kept: one bad step must not destroy the scale.
float fp8_scale(const QuantSpec& spec, float amax, float previous_scale, int margin = 0);

}  // namespace octet::quant
