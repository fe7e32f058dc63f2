#pragma once
// The kernels around the quantized cuBLASLt GEMMs (qgemm_epilogue.cu), called by qgemm.cpp only:
// internal to ops/cuda/, so no without_cuda twin. Pointers are device pointers; matrices row-major
// with the given leading dimensions; everything runs on the device's octet stream.
#include <cstdint>

namespace octet::cuda::detail {

// y[i, j] = float(acc[i, j]) * (a_scales[i * a_step] * w_scales[j * w_step]) + bias[j]
// (steps 0 or 1: per tensor or per row / channel; bias may be null).
void int8_dequantize(const int32_t* acc, int64_t ld_acc, const float* a_scales, int64_t a_step,
                     const float* w_scales, int64_t w_step, const float* bias, float* y,
                     int64_t ldy, int64_t m, int64_t n, int device);

// The fused epilogue of int8_linear, one pass over acc:
// v = act(float(acc[i, j]) * (a_scales[i * a_step] * w_scales[j * w_step]) + bias[j]), the
// int8_dequantize formula then the CPU runtime's GELU when gelu, stored as bf16 bits (codes
// false) or as the next layer's int8 codes clamp(nearbyint(v * (1 / out_scale[0])), qmin, qmax)
// (codes true). Eight outputs per thread (two 16-byte loads of acc) where n, the leading
// dimensions and the pointers allow it.
void int8_epilogue(const int32_t* acc, int64_t ld_acc, const float* a_scales, int64_t a_step,
                   const float* w_scales, int64_t w_step, const float* bias, bool gelu, void* y,
                   bool codes, const float* out_scale, float qmin, float qmax, int64_t ldy,
                   int64_t m, int64_t n, int device);

// cuBLASLt's own requantizing IMMA epilogue (per-row alpha vector, f32 bias, int8 D) in QuantSpec
// terms: alpha[j] = (a_scale[0] * w_scales[j * w_step]) / out_scale[0] and, when bias is not
// null, bias_out[j] = bias[j] / out_scale[0], for j < n.
void int8_requant_vectors(const float* a_scale, const float* w_scales, int64_t w_step,
                          const float* bias, const float* out_scale, float* alpha, float* bias_out,
                          int64_t n, int device);

// *a_out = 1 / a_scale[0]; *w_out = 1 / w_scale[0] when w_scale is not null: the cuBLASLt
// dequantization multipliers of QuantSpec scales, computed on the device so that scales produced
// there (delayed scaling) never travel to the host.
void reciprocal_scales(const float* a_scale, const float* w_scale, float* a_out, float* w_out,
                       int device);

// y[i, j] = y[i, j] * (1 / w_scales[j]) + bias[j], in place; w_scales or bias may be null.
void fp8_epilogue(float* y, int64_t ldy, int64_t m, int64_t n, const float* w_scales,
                  const float* bias, int device);

}  // namespace octet::cuda::detail
