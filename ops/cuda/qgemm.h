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

}  // namespace octet::cuda
