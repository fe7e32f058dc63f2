#include "ops/cuda/check.h"
#include "ops/cuda/indexing.cuh"
#include "ops/cuda/qgemm_epilogue.h"

namespace octet::cuda::detail {
namespace {

// The CPU epilogue (ops/quant/qgemm_kernel.cpp) computes float(v) * (a_scale * w_scale) + bias[c]
// in a loop that the host compiler contracts into a fused multiply-add; __fmaf_rn is that same
// single rounding, and __fmul_rn keeps nvcc from fusing the scale product into it.
__global__ void int8_dequantize_kernel(const int32_t* acc, int64_t ld_acc, const float* a_scales,
                                       int64_t a_step, const float* w_scales, int64_t w_step,
                                       const float* bias, float* y, int64_t ldy, int64_t m,
                                       int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < m * n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / n, col = i % n;
    const float scale = __fmul_rn(a_scales[row * a_step], w_scales[col * w_step]);
    const float v = static_cast<float>(acc[row * ld_acc + col]);
    y[row * ldy + col] = bias ? __fmaf_rn(v, scale, bias[col]) : __fmul_rn(v, scale);
  }
}

__global__ void reciprocal_kernel(const float* a_scale, const float* w_scale, float* a_out,
                                  float* w_out) {
  *a_out = 1.0f / a_scale[0];
  if (w_scale) *w_out = 1.0f / w_scale[0];
}

// qgemm_float.cpp: row[j] * inv_a * inv_w[j] + bias[j], where cuBLASLt has already applied inv_a.
__global__ void fp8_epilogue_kernel(float* y, int64_t ldy, int64_t m, int64_t n,
                                    const float* w_scales, const float* bias) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < m * n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / n, col = i % n;
    float& out = y[row * ldy + col];
    const float v = w_scales ? __fmul_rn(out, 1.0f / w_scales[col]) : out;
    out = bias ? __fadd_rn(v, bias[col]) : v;
  }
}

}  // namespace

void int8_dequantize(const int32_t* acc, int64_t ld_acc, const float* a_scales, int64_t a_step,
                     const float* w_scales, int64_t w_step, const float* bias, float* y,
                     int64_t ldy, int64_t m, int64_t n, int device) {
  if (m * n == 0) return;
  cudaStream_t s = stream_on(device);
  int8_dequantize_kernel<<<blocks_for(m * n), kThreads, 0, s>>>(
      acc, ld_acc, a_scales, a_step, w_scales, w_step, bias, y, ldy, m, n);
  OCTET_CUDA_CHECK_LAUNCH();
}

void reciprocal_scales(const float* a_scale, const float* w_scale, float* a_out, float* w_out,
                       int device) {
  cudaStream_t s = stream_on(device);
  reciprocal_kernel<<<1, 1, 0, s>>>(a_scale, w_scale, a_out, w_out);
  OCTET_CUDA_CHECK_LAUNCH();
}

void fp8_epilogue(float* y, int64_t ldy, int64_t m, int64_t n, const float* w_scales,
                  const float* bias, int device) {
  if (m * n == 0 || (!w_scales && !bias)) return;
  cudaStream_t s = stream_on(device);
  fp8_epilogue_kernel<<<blocks_for(m * n), kThreads, 0, s>>>(y, ldy, m, n, w_scales, bias);
  OCTET_CUDA_CHECK_LAUNCH();
}

}  // namespace octet::cuda::detail
