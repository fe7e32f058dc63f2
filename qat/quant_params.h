#pragma once
// The parameters a fake-quant op or an exported layer needs besides its QuantSpec.
#include "framework/tensor/tensor.h"

namespace octet::qat {

// scale: f32 of the spec's scale shape (one value per channel / token / group; {1} per tensor).
//   Integer formats: x' = (q - zp) * scale. FP8: q = encode(x * scale), x' = decode(q) / scale.
// zero_point: f32 holding integers, same shape as scale; undefined for symmetric and FP8 formats.
//   (f32 rather than int so that LSQ can learn it, as PyTorch's learnable fake-quant does.)
struct QParams {
  Tensor scale;
  Tensor zero_point;
};

}  // namespace octet::qat

#include "ops/quant/quant_spec.h"

namespace octet::qat {

// Throws naming `op` when `p` does not fit `spec` over a tensor of `shape`: scale missing or not
// f32 of the layout's size, a zero point on a symmetric/FP8 spec or of the wrong size.
void check_qparams(const char* op, const quant::QuantSpec& spec, const QParams& p,
                   const Shape& shape);

}  // namespace octet::qat
