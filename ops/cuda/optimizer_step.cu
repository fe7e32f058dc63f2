#include <algorithm>
#include <cmath>

#include "ops/cuda/check.h"
#include "ops/cuda/indexing.cuh"
#include "ops/cuda/optimizer_step.h"

namespace octet::cuda {
namespace {

// The per-step constants, computed on the host as ops/cpu/optimizer_step.cpp computes them.
struct AdamWConstants {
  float beta1, beta2, eps, step_size, inv_sqrt_bc2, decay;
};

__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, int64_t n,
                             AdamWConstants c) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float g = grad[i];
    const float mi = c.beta1 * m[i] + (1.0f - c.beta1) * g;
    const float vi = c.beta2 * v[i] + (1.0f - c.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float denom = sqrtf(vi) * c.inv_sqrt_bc2 + c.eps;
    param[i] = param[i] * c.decay - c.step_size * mi / denom;
  }
}

__global__ void sgd_kernel(float* param, const float* grad, float* buf, int64_t n, SgdHyper h) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    float g = grad[i] + h.weight_decay * param[i];
    if (h.momentum != 0.0f) {
      buf[i] = h.first_step ? g : h.momentum * buf[i] + g;
      g = h.nesterov ? g + h.momentum * buf[i] : buf[i];
    }
    param[i] -= h.lr * g;
  }
}

// Sum over the block (every thread calls it); thread 0 gets the result.
__device__ double block_sum(double v) {
  __shared__ double warp_sum[32];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sum[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < int(blockDim.x / 32) ? warp_sum[lane] : 0.0;
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  }
  return v;
}

__global__ void squares_partial_kernel(const float* x, int64_t n, double* partial) {
  double acc = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    acc += static_cast<double>(x[i]) * x[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void squares_finish_kernel(const double* partial, int blocks, double* acc) {
  double v = 0;
  for (int b = threadIdx.x; b < blocks; b += blockDim.x) v += partial[b];
  v = block_sum(v);
  if (threadIdx.x == 0) *acc += v;
}

constexpr int64_t kMaxPartials = 1024;

__global__ void clip_coefficient_kernel(const double* sum_of_squares, double max_norm,
                                        float* coef) {
  const double norm = sqrt(*sum_of_squares);
  *coef = norm > max_norm && norm > 0 ? static_cast<float>(__ddiv_rn(max_norm, norm + 1e-6)) : 1.0f;
}

__global__ void scale_in_place_kernel(float* x, int64_t n, const float* coef) {
  const float c = *coef;
  if (c == 1.0f) return;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    x[i] = __fmul_rn(x[i], c);
}

}  // namespace

void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWHyper& h,
                int device) {
  if (n == 0) return;
  const float bc1 = 1.0f - std::pow(h.beta1, static_cast<float>(h.step));
  const float bc2 = 1.0f - std::pow(h.beta2, static_cast<float>(h.step));
  const AdamWConstants c{
      h.beta1, h.beta2, h.eps, h.lr / bc1, 1.0f / std::sqrt(bc2), 1.0f - h.lr * h.weight_decay};
  cudaStream_t s = stream_on(device);
  adamw_kernel<<<blocks_for(n), kThreads, 0, s>>>(param, grad, m, v, n, c);
  OCTET_CUDA_CHECK_LAUNCH();
}

void sgd_step(float* param, const float* grad, float* buf, int64_t n, const SgdHyper& h,
              int device) {
  if (n == 0) return;
  cudaStream_t s = stream_on(device);
  sgd_kernel<<<blocks_for(n), kThreads, 0, s>>>(param, grad, buf, n, h);
  OCTET_CUDA_CHECK_LAUNCH();
}

void sum_of_squares_into(const float* x, int64_t n, double* acc, int device) {
  if (n == 0) return;
  cudaStream_t s = stream_on(device);
  // The block count is a function of n alone, which fixes the summation order.
  const int64_t per_block = int64_t(kThreads) * 8;
  const int blocks = static_cast<int>(std::min(kMaxPartials, (n + per_block - 1) / per_block));
  double* partial = static_cast<double*>(allocate(blocks * sizeof(double), device));
  try {
    squares_partial_kernel<<<blocks, kThreads, 0, s>>>(x, n, partial);
    OCTET_CUDA_CHECK_LAUNCH();
    squares_finish_kernel<<<1, kThreads, 0, s>>>(partial, blocks, acc);
    OCTET_CUDA_CHECK_LAUNCH();
  } catch (...) {
    release(partial, device);
    throw;
  }
  // Stream-ordered: the allocator reuses the block only for work queued after these kernels.
  release(partial, device);
}

void clip_coefficient(const double* sum_of_squares, double max_norm, float* coef, int device) {
  clip_coefficient_kernel<<<1, 1, 0, stream_on(device)>>>(sum_of_squares, max_norm, coef);
  OCTET_CUDA_CHECK_LAUNCH();
}

void scale_in_place(float* x, int64_t n, const float* coef, int device) {
  if (n == 0) return;
  scale_in_place_kernel<<<blocks_for(n), kThreads, 0, stream_on(device)>>>(x, n, coef);
  OCTET_CUDA_CHECK_LAUNCH();
}

double sum_of_squares(const float* x, int64_t n, int device) {
  double* acc = static_cast<double*>(allocate(sizeof(double), device));
  double host = 0;
  try {
    zero_bytes(acc, device, sizeof(double));
    sum_of_squares_into(x, n, acc, device);
    copy_bytes(&host, Device{}, acc, Device{DeviceType::cuda, device}, sizeof(double));
  } catch (...) {
    release(acc, device);
    throw;
  }
  release(acc, device);
  return host;
}

}  // namespace octet::cuda
