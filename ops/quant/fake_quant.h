#pragma once
// Fused fake-quant kernels: quantize + dequantize + the straight-through mask in one pass over a
// contiguous array, with scales laid out per quant::ScaleLayout (per tensor, channel, token or
// group). qat/ wraps them as autograd ops; the runtime's real quantizers (quantize.h) use the
// same arithmetic, so the fake-quant model predicts the deployed numbers exactly.
#include <cstdint>

#include "ops/quant/fp8.h"
#include "ops/quant/quant_spec.h"

namespace octet::quant {

// Integer fake-quant, PyTorch's arithmetic (fake_quantize_per_{tensor,channel}_affine):
//   q = nearbyint(x * (1/s)) + zp,  y = (clamp(q, qmin, qmax) - zp) * s,  mask = qmin <= q <= qmax
// with 1/s computed once per scale in T. Zero points are given as T holding integers (rounded
// and clamped into [qmin, qmax] here, as PyTorch's learnable fake-quant does); null means 0.
// mask may be null. NaN inputs give NaN outputs and a 0 mask (PyTorch would return qmin * s).
template <typename T>
void fake_quant_int(const T* x, int64_t n, const ScaleLayout& layout, const T* scale,
                    const T* zero_point, int64_t qmin, int64_t qmax, T* y, uint8_t* mask);

// dx = mask ? dy : 0, the straight-through gradient of the ops above.
template <typename T>
void apply_ste_mask(const T* dy, const uint8_t* mask, int64_t n, T* dx);

// FP8 fake-quant: y = decode(encode(x * s)) * (1/s). mask = |x * s| <= fp8_max (the gradient
// stops where the encoder saturates; NaN gives 0).
void fake_quant_fp8(const float* x, int64_t n, const ScaleLayout& layout, const float* scale,
                    Fp8Format format, bool saturate, float* y, uint8_t* mask);

// The backward of LSQ (learned step size, Esser et al. 2020) in PyTorch's form
// (_fake_quantize_learnable_per_{tensor,channel}_affine): per element, with q as above,
//   dx    = dy * [qmin <= q <= qmax]
//   dscale: in range (y - x) / s; below qmin: qmin - zp; above qmax: qmax - zp; times dy
//   dzp:    in range 0; out of range -s; times dy
// summed per scale and multiplied by grad_factor (1/sqrt(numel * qmax) in LSQ). dx, dscale and
// dzero_point may each be null when not wanted. Sums accumulate in double.
template <typename T>
void lsq_backward(const T* x, const T* dy, int64_t n, const ScaleLayout& layout, const T* scale,
                  const T* zero_point, int64_t qmin, int64_t qmax, double grad_factor, T* dx,
                  T* dscale, T* dzero_point);

}  // namespace octet::quant
