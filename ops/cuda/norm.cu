#include <algorithm>

#include "ops/cuda/check.h"
#include "ops/cuda/indexing.cuh"
#include "ops/cuda/launch_checks.h"
#include "ops/cuda/norm.h"
#include "ops/cuda/row_reduce.cuh"
#include "ops/norm_checks.h"

namespace octet::cuda {
namespace {

// RMS norm is the uncentred case of layer norm (mean taken as 0, no bias), as on the CPU.
constexpr int64_t kRowsPerBlock = 32;
constexpr int kColumnThreads = 256;

// Mean and variance in one pass shifted by the row's first element (see ops/cpu/norm.cpp: the
// shift keeps E[d^2] - E[d]^2 from cancelling when |mean| >> std).
template <bool kCentered, typename T>
__global__ void forward_kernel(const T* x, const T* w, const T* b, T eps, T* y, T* mean, T* rstd,
                               int64_t rows, int64_t n) {
  const T inv_n = T(1) / T(n);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    const T shift = kCentered ? xr[0] : T(0);
    T sum = 0, sum_sq = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const T d = xr[i] - shift;
      sum += d;
      sum_sq += d * d;
    }
    sum = block_sum(sum);
    sum_sq = block_sum(sum_sq);
    const T mean_shifted = kCentered ? sum * inv_n : T(0);
    const T mu = shift + mean_shifted;
    const T var = max_of(sum_sq * inv_n - mean_shifted * mean_shifted, T(0));
    const T rs = T(1) / sqrt(var + eps);
    if (b) {
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = (xr[i] - mu) * rs * w[i] + b[i];
    } else {
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = (xr[i] - mu) * rs * w[i];
    }
    if (threadIdx.x == 0) {
      if (kCentered) mean[r] = mu;
      rstd[r] = rs;
    }
  }
}

// With xh = (x - mean) * rstd and gw = g * w:
//   dx = rstd * (gw - mean(gw) - xh * mean(gw * xh))    (layer norm)
//   dx = rstd * (gw - xh * mean(gw * xh))               (RMS norm)
template <bool kCentered, typename T>
__global__ void dx_kernel(const T* g, const T* x, const T* w, const T* mean, const T* rstd, T* dx,
                          int64_t rows, int64_t n) {
  const T inv_n = T(1) / T(n);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* gr = g + r * n;
    const T* xr = x + r * n;
    const T mu = kCentered ? mean[r] : T(0);
    const T rs = rstd[r];
    T sum_gw = 0, sum_gw_xh = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const T xh = (xr[i] - mu) * rs;
      const T gw = gr[i] * w[i];
      sum_gw += gw;
      sum_gw_xh += gw * xh;
    }
    sum_gw = block_sum(sum_gw);
    sum_gw_xh = block_sum(sum_gw_xh);
    const T mean_gw = kCentered ? sum_gw * inv_n : T(0);
    const T mean_gw_xh = sum_gw_xh * inv_n;
    T* dxr = dx + r * n;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const T xh = (xr[i] - mu) * rs;
      dxr[i] = rs * (gr[i] * w[i] - mean_gw - xh * mean_gw_xh);
    }
  }
}

// Per block of kRowsPerBlock rows and per column i: partial[blk][i] = sum of g * xh and
// partial[blk][n + i] = sum of g over the block's rows in order (the CPU's per-block partials).
// One thread per column, so a warp reads 32 neighbouring columns of a row at once.
template <bool kCentered, typename T>
__global__ void param_partial_kernel(const T* g, const T* x, const T* mean, const T* rstd,
                                     T* partial, int64_t rows, int64_t n, int64_t blocks) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  for (int64_t blk = blockIdx.y; blk < blocks; blk += gridDim.y) {
    const int64_t r0 = blk * kRowsPerBlock;
    const int64_t r1 = r0 + kRowsPerBlock < rows ? r0 + kRowsPerBlock : rows;
    T dw = 0, db = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const T mu = kCentered ? mean[r] : T(0);
      const T xh = (x[r * n + i] - mu) * rstd[r];
      dw += g[r * n + i] * xh;
      if (kCentered) db += g[r * n + i];
    }
    partial[blk * 2 * n + i] = dw;
    partial[blk * 2 * n + n + i] = db;
  }
}

// dweight[i] and dbias[i] = the blocks' partials added in block order, starting from zero.
template <typename T>
__global__ void param_total_kernel(const T* partial, T* dw, T* db, int64_t n, int64_t blocks) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    T w = 0, b = 0;
    for (int64_t blk = 0; blk < blocks; ++blk) {
      w += partial[blk * 2 * n + i];
      b += partial[blk * 2 * n + n + i];
    }
    if (dw) dw[i] = w;
    if (db) db[i] = b;
  }
}

using Rows = NormRows;

template <typename T>
const T* ptr_or_null(const View* v) {
  return v ? v->ptr<const T>() : nullptr;
}
template <typename T>
T* out_or_null(const View* v) {
  return v ? v->ptr<T>() : nullptr;
}

template <bool kCentered, typename T>
void forward_typed(const View& x, const View& weight, const View* bias, double eps, const View& out,
                   const View* mean, const View& rstd, Rows rows) {
  if (rows.count == 0) return;
  cudaStream_t s = stream_on(x.device.index);
  forward_kernel<kCentered, T><<<row_blocks(rows.count), row_threads(rows.dim), 0, s>>>(
      x.ptr<const T>(), weight.ptr<const T>(), ptr_or_null<T>(bias), static_cast<T>(eps),
      out.ptr<T>(), out_or_null<T>(mean), rstd.ptr<T>(), rows.count, rows.dim);
  OCTET_CUDA_CHECK_LAUNCH();
}

template <bool kCentered, typename T>
void backward_typed(const View& grad_out, const View& x, const View& weight, const View* mean,
                    const View& rstd, const View* dx, const View* dweight, const View* dbias,
                    Rows rows) {
  const int device = x.device.index;
  cudaStream_t s = stream_on(device);
  const T* pmean = ptr_or_null<T>(mean);
  if (dx && rows.count > 0) {
    dx_kernel<kCentered, T><<<row_blocks(rows.count), row_threads(rows.dim), 0, s>>>(
        grad_out.ptr<const T>(), x.ptr<const T>(), weight.ptr<const T>(), pmean,
        rstd.ptr<const T>(), dx->ptr<T>(), rows.count, rows.dim);
    OCTET_CUDA_CHECK_LAUNCH();
  }
  if (!dweight && !dbias) return;
  const int64_t n = rows.dim;
  const int64_t blocks = (rows.count + kRowsPerBlock - 1) / kRowsPerBlock;
  // At least one block of partials, so an input without rows still yields zero gradients.
  const int64_t slots = std::max<int64_t>(blocks, 1);
  T* partial = static_cast<T*>(allocate(slots * 2 * n * sizeof(T), device));
  if (blocks == 0) {
    OCTET_CUDA_CHECK(cudaMemsetAsync(partial, 0, 2 * n * sizeof(T), s));
  } else {
    const dim3 grid(static_cast<unsigned>((n + kColumnThreads - 1) / kColumnThreads),
                    static_cast<unsigned>(std::min<int64_t>(blocks, 65535)));
    param_partial_kernel<kCentered, T>
        <<<grid, kColumnThreads, 0, s>>>(grad_out.ptr<const T>(), x.ptr<const T>(), pmean,
                                         rstd.ptr<const T>(), partial, rows.count, n, blocks);
    OCTET_CUDA_CHECK_LAUNCH();
  }
  param_total_kernel<T><<<blocks_for(n, kColumnThreads), kColumnThreads, 0, s>>>(
      partial, out_or_null<T>(dweight), out_or_null<T>(dbias), n, slots);
  OCTET_CUDA_CHECK_LAUNCH();
  // The caching allocator hands the block out again only to work queued after this on the stream.
  release(partial, device);
}

}  // namespace

void layer_norm_forward(const View& x, const View& weight, const View* bias, double eps,
                        const View& out, const View& mean, const View& rstd) {
  const char* op = "layer_norm";
  const Rows rows = check_layer_norm_forward(x, weight, bias, out, mean, rstd);
  device_of(op, {&x});
  dispatch_float(x.dtype, op, [&](auto t) {
    forward_typed<true, decltype(t)>(x, weight, bias, eps, out, &mean, rstd, rows);
  });
}

void layer_norm_backward(const View& grad_out, const View& x, const View& weight, const View& mean,
                         const View& rstd, const View* dx, const View* dweight, const View* dbias) {
  const char* op = "layer_norm_backward";
  const Rows rows = check_layer_norm_backward(grad_out, x, weight, mean, rstd, dx, dweight, dbias);
  device_of(op, {&x});
  dispatch_float(x.dtype, op, [&](auto t) {
    backward_typed<true, decltype(t)>(grad_out, x, weight, &mean, rstd, dx, dweight, dbias, rows);
  });
}

void rms_norm_forward(const View& x, const View& weight, double eps, const View& out,
                      const View& rstd) {
  const char* op = "rms_norm";
  const Rows rows = check_rms_norm_forward(x, weight, out, rstd);
  device_of(op, {&x});
  dispatch_float(x.dtype, op, [&](auto t) {
    forward_typed<false, decltype(t)>(x, weight, nullptr, eps, out, nullptr, rstd, rows);
  });
}

void rms_norm_backward(const View& grad_out, const View& x, const View& weight, const View& rstd,
                       const View* dx, const View* dweight) {
  const char* op = "rms_norm_backward";
  const Rows rows = check_rms_norm_backward(grad_out, x, weight, rstd, dx, dweight);
  device_of(op, {&x});
  dispatch_float(x.dtype, op, [&](auto t) {
    backward_typed<false, decltype(t)>(grad_out, x, weight, nullptr, rstd, dx, dweight, nullptr,
                                       rows);
  });
}

}  // namespace octet::cuda
