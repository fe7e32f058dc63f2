#pragma once
// Fake-quant autograd ops: quantize-dequantize in the forward pass, straight-through gradients in
// the backward pass. Each is one fused kernel from ops/quant/fake_quant.h, so training, PTQ
// calibration and the runtime share one definition of the numbers.
#include <optional>

#include "ops/quant/quant_spec.h"
#include "qat/quant_params.h"

namespace octet::qat {

enum class Ste : uint8_t {
  kClipped,   // the gradient passes where the value was representable, and is 0 where it clipped
  kIdentity,  // the gradient passes everywhere (plain straight-through estimator)
};

// y = fake-quant of x under `spec` with fixed parameters (from an observer or an amax history):
// only x receives a gradient. x: f32 (f64 for integer formats too, for gradient checks).
Tensor fake_quant(const Tensor& x, const quant::QuantSpec& spec, const QParams& params,
                  Ste ste = Ste::kClipped);

// What a caller may take from fake_quant's pass over x besides y, so that x is read once (on a GPU
// these come from the same kernel, ops/cuda/fake_quant_fused.h):
//   output_dtype  bf16: y rounded to bf16, the operand an autocast GEMM takes (the same bits as
//                 casting the f32 y; its gradient still arrives and leaves in f32)
//   amax          also max |x| over the tensor (range.h's rule), FP8 delayed scaling's statistic;
//                 only for specs with one scale
struct FakeQuantExtras {
  std::optional<DType> output_dtype;
  bool amax = false;
};
struct FakeQuantResult {
  Tensor y;
  Tensor amax;  // f32 [1] on x's device, when asked for
};
// fake_quant with extras; x f32.
FakeQuantResult fake_quant_fused(const Tensor& x, const quant::QuantSpec& spec,
                                 const QParams& params, Ste ste, const FakeQuantExtras& extras);

// LSQ: integer fake-quant whose scale (and, for affine specs, zero point) are learned. Gradients
// flow to x, scale and zero_point per ops/quant/fake_quant.h's lsq_backward, the scale's scaled
// by grad_factor. scale and zero_point: x's dtype, of the spec's scale shape.
Tensor fake_quant_lsq(const Tensor& x, const quant::QuantSpec& spec, const Tensor& scale,
                      const Tensor& zero_point, double grad_factor);

// LSQ's gradient scale 1/sqrt(numel * qmax), with numel of the whole tensor (as PyTorch's
// _LearnableFakeQuantize computes it).
double lsq_grad_factor(int64_t numel, int64_t qmax);

}  // namespace octet::qat
