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

// *a_out = 1 / a_scale[0]; *w_out = 1 / w_scale[0] when w_scale is not null: the cuBLASLt
// dequantization multipliers of QuantSpec scales, computed on the device so that scales produced
// there (delayed scaling) never travel to the host.
void reciprocal_scales(const float* a_scale, const float* w_scale, float* a_out, float* w_out,
                       int device);

// y[i, j] = y[i, j] * (1 / w_scales[j]) + bias[j], in place; w_scales or bias may be null.
void fp8_epilogue(float* y, int64_t ldy, int64_t m, int64_t n, const float* w_scales,
                  const float* bias, int device);

}  // namespace octet::cuda::detail
