#include <type_traits>

#include "ops/cuda/check.h"
#include "ops/cuda/fake_quant.h"
#include "ops/cuda/fake_quant_fused.h"
#include "ops/cuda/indexing.cuh"
#include "ops/cuda/quant_runs.cuh"
#include "ops/cuda/range.h"
#include "ops/cuda/scale_rules.cuh"

namespace octet::cuda {
namespace {

using quant::Fp8Format;
using quant_detail::mul_rn;
using quant_detail::rounded_zero_point;
using quant_detail::Runs;

// 1/s as the CPU computes it once per run of equal scale (an IEEE division either way).
__device__ __forceinline__ float reciprocal(float s) { return __fdiv_rn(1.0f, s); }
__device__ __forceinline__ double reciprocal(double s) { return __ddiv_rn(1.0, s); }

// The f64 kernel (gradient checks); f32 runs fake_quant_fused.cu's.
template <typename T>
__global__ void fake_quant_int_kernel(const T* x, int64_t n, Runs runs, const T* scale,
                                      const T* zero_point, T lo, T hi, T* y, uint8_t* mask) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = runs.scale_of(i);
    const T s = scale[c];
    const T zp = rounded_zero_point(zero_point, c, lo, hi);
    const T q = rint(mul_rn(x[i], reciprocal(s))) + zp;
    const T clamped = hi < (q < lo ? lo : q) ? hi : (q < lo ? lo : q);  // min(max(q, lo), hi)
    y[i] = q != q ? q : mul_rn(clamped - zp, s);  // NaN stays NaN, as on the CPU
    if (mask != nullptr) mask[i] = (q >= lo) & (q <= hi);
  }
}

template <typename T>
__global__ void ste_mask_kernel(const T* dy, const uint8_t* mask, int64_t n, T* dx) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = mask[i] ? dy[i] : T(0);
}

// The f32 mask four elements per thread (16-byte gradient and 4-byte mask accesses), for every
// QAT backward: the scalar kernel moved ~1.5 TB/s on an H100, this one's loads are as wide as the
// memory system likes. Needs dy and dx 16-byte aligned and mask 4-byte aligned; n / 4 groups.
__global__ void ste_mask_x4_kernel(const float4* dy, const uchar4* mask, int64_t groups,
                                   float4* dx) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < groups;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float4 g = dy[i];
    const uchar4 m = mask[i];
    dx[i] = make_float4(m.x ? g.x : 0.0f, m.y ? g.y : 0.0f, m.z ? g.z : 0.0f, m.w ? g.w : 0.0f);
  }
}

__global__ void fp8_scales_kernel(const float* amax, int64_t count, float fp8_max,
                                  float previous_scale, int margin, float* scales) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < count;
       c += int64_t(gridDim.x) * blockDim.x)
    scales[c] = rules::fp8_scale(fp8_max, amax[c], previous_scale, margin);
}

// The LSQ partial sums of one thread for one scale.
struct LsqAcc {
  double scale, zero_point;
  __device__ static LsqAcc merge(LsqAcc a, LsqAcc b) {
    return {a.scale + b.scale, a.zero_point + b.zero_point};
  }
  __device__ static LsqAcc shfl_xor(LsqAcc a, int m) {
    const unsigned full = 0xffffffffu;
    return {__shfl_xor_sync(full, a.scale, m), __shfl_xor_sync(full, a.zero_point, m)};
  }
};

// The CPU's per-element arithmetic (ops/quant/fake_quant.cpp lsq_backward), with the sums
// flushed into acc[c] (scale) and acc[count + c] (zero point) by double atomics.
template <typename T>
__global__ void lsq_kernel(const T* x, const T* dy, int64_t n, Runs runs, const T* scale,
                           const T* zero_point, T lo, T hi, T* dx, double* acc) {
  quant_detail::reduce_chunk<LsqAcc>(
      n, runs, LsqAcc{0.0, 0.0},
      [&](int64_t i, LsqAcc& a) {
        const int64_t c = runs.scale_of(i);
        const T s = scale[c], inv_s = reciprocal(s);
        const T zp = rounded_zero_point(zero_point, c, lo, hi);
        const T q = rint(mul_rn(x[i], inv_s)) + zp;
        const bool in_range = q >= lo && q <= hi;
        if (dx != nullptr) dx[i] = in_range ? dy[i] : T(0);
        const T clamped = q < lo ? lo : (q > hi ? hi : q);
        const T yi = mul_rn(clamped - zp, s);
        const T g_scale = in_range ? mul_rn(yi - x[i], inv_s) : (q < lo ? lo - zp : hi - zp);
        a.scale += static_cast<double>(mul_rn(dy[i], g_scale));
        a.zero_point += in_range ? 0.0 : static_cast<double>(mul_rn(-dy[i], s));
      },
      [&](int64_t c, const LsqAcc& a) {
        atomicAdd(&acc[c], a.scale);
        atomicAdd(&acc[runs.count + c], a.zero_point);
      });
}

template <typename T>
__global__ void lsq_finish_kernel(const double* acc, int64_t count, double grad_factor, T* dscale,
                                  T* dzero_point) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < count;
       c += int64_t(gridDim.x) * blockDim.x) {
    if (dscale != nullptr) dscale[c] = static_cast<T>(acc[c] * grad_factor);
    if (dzero_point != nullptr) dzero_point[c] = static_cast<T>(acc[count + c] * grad_factor);
  }
}

}  // namespace

template <typename T>
void fake_quant_int(const T* x, int64_t n, const quant::ScaleLayout& layout, const T* scale,
                    const T* zero_point, int64_t qmin, int64_t qmax, T* y, uint8_t* mask,
                    int device) {
  if constexpr (std::is_same_v<T, float>) {
    // The f32 kernel is the fused one's (vector loads), without its extras.
    fake_quant_int_fused(x, n, layout, scale, zero_point, qmin, qmax, {y, DType::f32, mask},
                         device);
  } else {
    const Runs runs = quant_detail::runs_of(layout, n, "fake_quant_int");
    if (n == 0) return;
    fake_quant_int_kernel<T><<<blocks_for(n), kThreads, 0, stream_on(device)>>>(
        x, n, runs, scale, zero_point, T(qmin), T(qmax), y, mask);
    OCTET_CUDA_CHECK_LAUNCH();
  }
}

template <typename T>
void apply_ste_mask(const T* dy, const uint8_t* mask, int64_t n, T* dx, int device) {
  OCTET_CHECK(n >= 0, "apply_ste_mask", "negative length ", n);
  if (n == 0) return;
  cudaStream_t s = stream_on(device);
  int64_t done = 0;
  if constexpr (std::is_same_v<T, float>) {
    const int64_t groups = n / 4;
    if (groups > 0 && is_aligned(dy, 16) && is_aligned(dx, 16) && is_aligned(mask, 4)) {
      ste_mask_x4_kernel<<<blocks_for(groups), kThreads, 0, s>>>(
          reinterpret_cast<const float4*>(dy), reinterpret_cast<const uchar4*>(mask), groups,
          reinterpret_cast<float4*>(dx));
      OCTET_CUDA_CHECK_LAUNCH();
      done = groups * 4;
    }
  }
  if (done == n) return;
  ste_mask_kernel<T>
      <<<blocks_for(n - done), kThreads, 0, s>>>(dy + done, mask + done, n - done, dx + done);
  OCTET_CUDA_CHECK_LAUNCH();
}

void fake_quant_fp8(const float* x, int64_t n, const quant::ScaleLayout& layout, const float* scale,
                    Fp8Format format, bool saturate, float* y, uint8_t* mask, int device) {
  fake_quant_fp8_fused(x, n, layout, scale, format, saturate, {y, DType::f32, mask}, device);
}

void fp8_scales_from_amax(const float* amax, int64_t count, Fp8Format format, float previous_scale,
                          int margin, float* scales, int device) {
  OCTET_CHECK(count >= 0, "fp8_scales_from_amax", "negative count ", count);
  if (count == 0) return;
  cudaStream_t s = stream_on(device);
  fp8_scales_kernel<<<blocks_for(count), kThreads, 0, s>>>(
      amax, count, static_cast<float>(quant::fp8_max(format)), previous_scale, margin, scales);
  OCTET_CUDA_CHECK_LAUNCH();
}

void fake_quant_fp8_current(const float* x, int64_t n, const quant::ScaleLayout& layout,
                            Fp8Format format, bool saturate, float* scales, float* y, uint8_t* mask,
                            int device) {
  quant_detail::runs_of(layout, n, "fake_quant_fp8_current");
  DeviceBuffer amax(static_cast<size_t>(layout.count) * sizeof(float), device);
  abs_max(x, n, layout, amax.as<float>(), device);
  fp8_scales_from_amax(amax.as<const float>(), layout.count, format, 1.0f, 0, scales, device);
  fake_quant_fp8(x, n, layout, scales, format, saturate, y, mask, device);
}

template <typename T>
void lsq_backward(const T* x, const T* dy, int64_t n, const quant::ScaleLayout& layout,
                  const T* scale, const T* zero_point, int64_t qmin, int64_t qmax,
                  double grad_factor, T* dx, T* dscale, T* dzero_point, int device) {
  const Runs runs = quant_detail::runs_of(layout, n, "lsq_backward");
  cudaStream_t s = stream_on(device);
  const size_t bytes = 2 * static_cast<size_t>(runs.count) * sizeof(double);
  DeviceBuffer acc(bytes, device);
  zero_bytes(acc.get(), device, bytes);
  auto* sums = acc.as<double>();
  if (n > 0) {
    lsq_kernel<T><<<quant_detail::reduce_blocks(n), quant_detail::kReduceThreads, 0, s>>>(
        x, dy, n, runs, scale, zero_point, T(qmin), T(qmax), dx, sums);
    OCTET_CUDA_CHECK_LAUNCH();
  }
  lsq_finish_kernel<T><<<blocks_for(runs.count), kThreads, 0, s>>>(sums, runs.count, grad_factor,
                                                                   dscale, dzero_point);
  OCTET_CUDA_CHECK_LAUNCH();
}

template void fake_quant_int<float>(const float*, int64_t, const quant::ScaleLayout&, const float*,
                                    const float*, int64_t, int64_t, float*, uint8_t*, int);
template void fake_quant_int<double>(const double*, int64_t, const quant::ScaleLayout&,
                                     const double*, const double*, int64_t, int64_t, double*,
                                     uint8_t*, int);
template void apply_ste_mask<float>(const float*, const uint8_t*, int64_t, float*, int);
template void apply_ste_mask<double>(const double*, const uint8_t*, int64_t, double*, int);
template void lsq_backward<float>(const float*, const float*, int64_t, const quant::ScaleLayout&,
                                  const float*, const float*, int64_t, int64_t, double, float*,
                                  float*, float*, int);
template void lsq_backward<double>(const double*, const double*, int64_t, const quant::ScaleLayout&,
                                   const double*, const double*, int64_t, int64_t, double, double*,
                                   double*, double*, int);

}  // namespace octet::cuda
