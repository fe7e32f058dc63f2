#pragma once
// The quantized GEMMs on a GPU: the device twins of ops/quant/qgemm.h's int8_gemm and fp8_gemm,
// on Views of device memory instead of prepared host weights. Weights are stored as rows,
// w [N, K] (out_features x in_features), so y = a @ w^T: cuBLASLt's "TN" layout, the one IMMA and
// FP8 tensor cores take without reordering the operands.
#include "ops/view.h"

namespace octet::cuda {

// ---- INT8 (IMMA, sm_80+) ------------------------------------------------------------------------

// acc [M, N] i32 = a [M, K] i8 @ w [N, K] i8 ^T, summed exactly in int32 (|sum| <= K * 128^2, so
// exact for K < 2^17). All three row-major (unit column stride). cuBLASLt's IMMA rules: K, and
// the row strides of a, w and acc, multiples of 4, and each base address 4-byte aligned (16 is
// faster); otherwise "[int8_gemm] ..." says which one breaks it.
void int8_matmul(const View& a, const View& w, const View& acc);

// The dequantizing epilogue, qgemm.h's formula:
// y[i, j] = float(acc[i, j]) * (a_scales[i or 0] * w_scales[j or 0]) + bias[j]  -> f32.
// a_scales: f32 [1] (per tensor) or [M] (per token); w_scales: f32 [1] or [N] (per channel);
// bias: nullptr or f32 [N]. acc i32 and y f32 [M, N] row-major.
void int8_dequantize(const View& acc, const View& a_scales, const View& w_scales, const View* bias,
                     const View& y);

// Both: qgemm.h's int8_gemm for symmetric s8 activations (zero point 0), the int32 accumulators in
// a scratch buffer of the caching allocator.
void int8_gemm(const View& a, const View& a_scales, const View& w, const View& w_scales,
               const View* bias, const View& y);

// ---- FP8 (sm_89+) -------------------------------------------------------------------------------

// y [M, N] = (a [M, K] @ w [N, K]^T) * (1 / a_scale) * (1 / w_scale[j]) + bias[j]: qgemm.h's
// fp8_gemm, whose scales follow QuantSpec (x' = decode(q) / s), so the cuBLASLt dequantization
// multipliers (A/B_SCALE_POINTER, x' = decode(q) * scale) are their reciprocals, computed on the
// device. a and w are f8e4m3 or f8e5m2 codes (not both e5m2, which cuBLASLt lacks; e5m2 x e4m3
// is the gradient GEMM), row-major with K and row strides multiples of 16.
// a_scale: f32 [1] on the device; w_scale: f32 [1], or [N] per channel (f32 output only).
// y: f32 or bf16 (unit column stride, row stride a multiple of 16 bytes); bias: nullptr or [N]
// of y's dtype. Throws "[fp8_gemm] needs compute capability 8.9+, cuda:0 is 8.0" on older GPUs.
void fp8_gemm(const View& a, const View& a_scale, const View& w, const View& w_scale,
              const View* bias, const View& y);

// Whether the device has FP8 tensor cores (compute capability 8.9+).
bool has_fp8(int device);

// ---- Linear layers on bf16 activations (the deployed runtime's prefill) -------------------------
// x [M, K] -> y [M, N] with everything after the GEMM fused: the bias, an optional GELU, and the
// store, as bf16 or as the input codes of the layer that reads y next. All operands row-major
// (unit column stride) on one CUDA device; everything runs on its octet stream.

enum class Activation { kNone, kGelu };  // GELU: the tanh form, as the CPU runtime's

struct LinearEpilogue {
  const View* bias = nullptr;  // [N]: bf16 for bf16_linear and fp8_linear, f32 for int8_linear
  Activation activation = Activation::kNone;
  // Codes output: the QuantSpec scale s (f32 [1] on the device) of the next layer's static
  // per-tensor input quantization; y then holds int8 q = clamp(nearbyint(v * (1/s)), qmin, qmax)
  // (y i8) or E4M3 q = encode(v * s), saturated (y f8e4m3), instead of bf16 v.
  const View* out_scale = nullptr;
  int64_t qmin = -127, qmax = 127;
  // int8_linear with int8 codes out and no activation: let cuBLASLt requantize inside the IMMA
  // GEMM (a per-row alpha vector a_s * w_s[j] / s and an f32 bias b[j] / s), skipping the int32
  // scratch. Its own rounding of alpha * acc + b / s (to nearest, saturated to [-128, 127]) can
  // put a code one away from the fused epilogue's, which rounds (acc * (a_s * w_s) + b) * (1/s).
  bool lt_requant = false;
};

// y bf16 = act(a bf16 @ w bf16 ^T + bias): one cuBLASLt GEMM with f32 accumulation and the bias
// (bf16) and GELU in its epilogue. The BF16 layer the quantized ones are measured against. No
// codes output.
void bf16_linear(const View& a, const View& w, const LinearEpilogue& e, const View& y);

// y = act((a @ w^T) * a_mul * w_mul + bias) with a and w E4M3/E5M2 codes (not both E5M2) and
// a_mul, w_mul cuBLASLt's dequantization multipliers, f32 [1] each on the device (1 / the
// QuantSpec scale: the caller keeps them, so a layer with static scales spends no kernel on
// them). One cuBLASLt call: y bf16, or E4M3 codes with e.out_scale as its D scale; bias bf16.
// K, N and the row strides of a, w and y (in bytes) multiples of 16, a, w and y 16-byte aligned
// (cuBLASLt's FP8 rules; nothing is padded). sm_89+.
void fp8_linear(const View& a, const View& a_mul, const View& w, const View& w_mul,
                const LinearEpilogue& e, const View& y);

// y = act(float(a @ w^T) * (a_scales[i] * w_scales[j]) + bias[j]) with a and w s8 codes and
// QuantSpec scales as int8_gemm's (a_scales [1] or [M], w_scales [1] or [N]). IMMA into an int32
// scratch, then ONE epilogue pass to bf16 or int8 codes (detail::int8_epilogue), or, with
// e.lt_requant, cuBLASLt's requantizing IMMA alone (per-tensor a_scales, codes out, no GELU).
// IMMA's rules: K and the row strides of a, w (and y for lt_requant) multiples of 4.
void int8_linear(const View& a, const View& a_scales, const View& w, const View& w_scales,
                 const LinearEpilogue& e, const View& y);

}  // namespace octet::cuda
