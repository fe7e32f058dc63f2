#pragma once
// Fused fake-quant kernels on a CUDA device: the twins of ops/quant/fake_quant.h (same arguments,
// device pointers, plus the device they live on). Codes, outputs and masks are bit-identical to
// the CPU's: the same float operations in the same order (1/s, x * (1/s), rint half-to-even, the
// same clamp and NaN rule). The LSQ sums accumulate in double in another order, so they match the
// CPU to rounding (~1e-15 relative), not bitwise. scale, zero_point, y and mask live on `device`.
#include <cstdint>

#include "ops/quant/fp8.h"
#include "ops/quant/quant_spec.h"

namespace octet::cuda {

// q = nearbyint(x * (1/s)) + zp, y = (clamp(q, qmin, qmax) - zp) * s, mask = qmin <= q <= qmax;
// zero_point and mask may be null. T: float or double.
template <typename T>
void fake_quant_int(const T* x, int64_t n, const quant::ScaleLayout& layout, const T* scale,
                    const T* zero_point, int64_t qmin, int64_t qmax, T* y, uint8_t* mask,
                    int device);

// dx = mask ? dy : 0.
template <typename T>
void apply_ste_mask(const T* dy, const uint8_t* mask, int64_t n, T* dx, int device);

// y = decode(encode(x * s)) * (1/s), mask = |x * s| <= fp8_max (may be null).
void fake_quant_fp8(const float* x, int64_t n, const quant::ScaleLayout& layout, const float* scale,
                    quant::Fp8Format format, bool saturate, float* y, uint8_t* mask, int device);

// FP8 current scaling in one go on the device: amax per scale (range.h's abs_max), the scale by
// fp8_scale (scale_rules.h, previous scale 1 and margin 0, as dynamic_scales.h's current_scales),
// written to `scales` [layout.count], then fake_quant_fp8 with those scales. No host round trip.
void fake_quant_fp8_current(const float* x, int64_t n, const quant::ScaleLayout& layout,
                            quant::Fp8Format format, bool saturate, float* scales, float* y,
                            uint8_t* mask, int device);

// scales[c] = fp8_scale(spec, amax[c], previous_scale, margin) by the device copy of the rule
// (what fake_quant_fp8_current uses); for tests against the CPU rule.
void fp8_scales_from_amax(const float* amax, int64_t count, quant::Fp8Format format,
                          float previous_scale, int margin, float* scales, int device);

// LSQ backward (see ops/quant/fake_quant.h): dx per element, dscale and dzero_point summed per
// scale in double and multiplied by grad_factor. dx, dscale and dzero_point may each be null.
template <typename T>
void lsq_backward(const T* x, const T* dy, int64_t n, const quant::ScaleLayout& layout,
                  const T* scale, const T* zero_point, int64_t qmin, int64_t qmax,
                  double grad_factor, T* dx, T* dscale, T* dzero_point, int device);

}  // namespace octet::cuda
