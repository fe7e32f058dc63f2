#include "ops/cuda/check.h"
#include "ops/cuda/elementwise_math.cuh"
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

struct EpilogueArgs {
  const int32_t* acc;
  int64_t ld_acc;
  const float* a_scales;
  int64_t a_step;
  const float* w_scales;
  int64_t w_step;
  const float* bias;
  void* y;
  const float* out_scale;
  float qmin, qmax;
  int64_t ldy, m, n;
};

// int8_dequantize_kernel's value (same roundings), then GELU.
template <bool kGelu>
__device__ __forceinline__ float epilogue_value(const EpilogueArgs& p, int32_t acc, int64_t row,
                                                int64_t col) {
  const float scale = __fmul_rn(p.a_scales[row * p.a_step], p.w_scales[col * p.w_step]);
  const float v = static_cast<float>(acc);
  const float y = p.bias ? __fmaf_rn(v, scale, p.bias[col]) : __fmul_rn(v, scale);
  if constexpr (kGelu) return math::gelu<float>(y);
  return y;
}

// quantize_int's code for a per-tensor symmetric scale (NaN -> qmin).
__device__ __forceinline__ uint8_t code_of(float v, float inv_s, float lo, float hi) {
  const float q = rintf(__fmul_rn(v, inv_s));
  const float clamped = q > lo ? (q < hi ? q : hi) : lo;
  return static_cast<uint8_t>(static_cast<int8_t>(static_cast<int32_t>(clamped)));
}

template <bool kVector, bool kGelu, bool kCodes>
__global__ void int8_epilogue_kernel(EpilogueArgs p) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const float inv_s = kCodes ? __fdiv_rn(1.0f, p.out_scale[0]) : 0.0f;
  if constexpr (kVector) {
    const int64_t per_row = p.n / 8, groups = p.m * per_row;
    for (int64_t g = first; g < groups; g += stride) {
      const int64_t row = g / per_row, col = (g - row * per_row) * 8;
      const int4* src = reinterpret_cast<const int4*>(p.acc + row * p.ld_acc + col);
      const int4 lo = src[0], hi = src[1];
      const int32_t acc[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
      uint32_t packed[4] = {0, 0, 0, 0};
      for (int k = 0; k < 8; ++k) {
        const float v = epilogue_value<kGelu>(p, acc[k], row, col + k);
        if constexpr (kCodes)
          packed[k / 4] |= static_cast<uint32_t>(code_of(v, inv_s, p.qmin, p.qmax))
                           << (8 * (k % 4));
        else
          packed[k / 2] |= static_cast<uint32_t>(f32_to_bf16_bits(v)) << (16 * (k % 2));
      }
      if constexpr (kCodes)
        *reinterpret_cast<uint2*>(static_cast<uint8_t*>(p.y) + row * p.ldy + col) =
            make_uint2(packed[0], packed[1]);
      else
        *reinterpret_cast<uint4*>(static_cast<uint16_t*>(p.y) + row * p.ldy + col) =
            make_uint4(packed[0], packed[1], packed[2], packed[3]);
    }
  } else {
    for (int64_t i = first; i < p.m * p.n; i += stride) {
      const int64_t row = i / p.n, col = i % p.n;
      const float v = epilogue_value<kGelu>(p, p.acc[row * p.ld_acc + col], row, col);
      if constexpr (kCodes)
        static_cast<uint8_t*>(p.y)[row * p.ldy + col] = code_of(v, inv_s, p.qmin, p.qmax);
      else
        static_cast<uint16_t*>(p.y)[row * p.ldy + col] = f32_to_bf16_bits(v);
    }
  }
}

template <bool kVector>
void launch_int8_epilogue(const EpilogueArgs& p, bool gelu, bool codes, cudaStream_t s) {
  const unsigned blocks = blocks_for(kVector ? p.m * (p.n / 8) : p.m * p.n);
  if (gelu && codes)
    int8_epilogue_kernel<kVector, true, true><<<blocks, kThreads, 0, s>>>(p);
  else if (gelu)
    int8_epilogue_kernel<kVector, true, false><<<blocks, kThreads, 0, s>>>(p);
  else if (codes)
    int8_epilogue_kernel<kVector, false, true><<<blocks, kThreads, 0, s>>>(p);
  else
    int8_epilogue_kernel<kVector, false, false><<<blocks, kThreads, 0, s>>>(p);
}

__global__ void int8_requant_vectors_kernel(const float* a_scale, const float* w_scales,
                                            int64_t w_step, const float* bias,
                                            const float* out_scale, float* alpha, float* bias_out,
                                            int64_t n) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n;
       j += int64_t(gridDim.x) * blockDim.x) {
    alpha[j] = __fdiv_rn(__fmul_rn(a_scale[0], w_scales[j * w_step]), out_scale[0]);
    if (bias) bias_out[j] = __fdiv_rn(bias[j], out_scale[0]);
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

void int8_epilogue(const int32_t* acc, int64_t ld_acc, const float* a_scales, int64_t a_step,
                   const float* w_scales, int64_t w_step, const float* bias, bool gelu, void* y,
                   bool codes, const float* out_scale, float qmin, float qmax, int64_t ldy,
                   int64_t m, int64_t n, int device) {
  if (m * n == 0) return;
  const EpilogueArgs p{acc, ld_acc,    a_scales, a_step, w_scales, w_step, bias,
                       y,   out_scale, qmin,     qmax,   ldy,      m,      n};
  const uintptr_t y_align = codes ? 8 : 16;
  const bool vector = n % 8 == 0 && ld_acc % 4 == 0 && ldy % 8 == 0 && is_aligned(acc, 16) &&
                      is_aligned(y, y_align);
  cudaStream_t s = stream_on(device);
  if (vector)
    launch_int8_epilogue<true>(p, gelu, codes, s);
  else
    launch_int8_epilogue<false>(p, gelu, codes, s);
  OCTET_CUDA_CHECK_LAUNCH();
}

void int8_requant_vectors(const float* a_scale, const float* w_scales, int64_t w_step,
                          const float* bias, const float* out_scale, float* alpha, float* bias_out,
                          int64_t n, int device) {
  if (n == 0) return;
  cudaStream_t s = stream_on(device);
  int8_requant_vectors_kernel<<<blocks_for(n), kThreads, 0, s>>>(a_scale, w_scales, w_step, bias,
                                                                 out_scale, alpha, bias_out, n);
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
