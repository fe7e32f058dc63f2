#include "ops/cuda/check.h"
#include "ops/cuda/index_check.cuh"
#include "ops/cuda/indexing.cuh"
#include "ops/cuda/launch_checks.h"
#include "ops/cuda/pool.h"

namespace octet::cuda {
namespace {

constexpr const char* kOp = "max_pool2d";

// One thread per output element: the CPU's pool_plane window scan, in the same order.
template <typename T>
__global__ void forward_kernel(const T* x, int64_t H, int64_t W, int64_t k, int64_t s, int64_t OH,
                               int64_t OW, T* out, int64_t* arg, int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t plane = e / (OH * OW), o = e - plane * OH * OW;
    const int64_t oh = o / OW, ow = o - oh * OW;
    const T* src = x + plane * H * W;
    int64_t best_at = oh * s * W + ow * s;
    T best = src[best_at];
    for (int64_t kh = 0; kh < k; ++kh) {
      const int64_t row = (oh * s + kh) * W + ow * s;
      for (int64_t kw = 0; kw < k; ++kw) {
        const T v = src[row + kw];
        // Strictly greater keeps the first maximum; a NaN replaces any number once.
        if (v > best || (v != v && best == best)) {
          best = v;
          best_at = row + kw;
        }
      }
    }
    out[e] = best;
    arg[e] = best_at;
  }
}

template <typename T>
__global__ void backward_kernel(const T* g, const int64_t* arg, T* dx, int64_t outs, int64_t plane,
                                int64_t total, unsigned long long* first_bad) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < total;
       j += int64_t(gridDim.x) * blockDim.x) {
    const int64_t a = arg[j];
    if (a < 0 || a >= plane) {
      report_bad(first_bad, j);
      continue;
    }
    atomicAdd(dx + (j / outs) * plane + a, g[j]);
  }
}

}  // namespace

void max_pool2d_forward(const View& x, int64_t kernel, int64_t stride, const View& out,
                        const View& indices) {
  const Shape shape = cpu::max_pool2d_output_shape(x.shape, kernel, stride);
  OCTET_CHECK(x.is_contiguous() && out.is_contiguous() && indices.is_contiguous(), kOp,
              "input, output and indices must be contiguous");
  OCTET_CHECK(out.shape == shape && out.dtype == x.dtype, kOp, "output ", dtype_name(out.dtype),
              shape_str(out.shape), " should be ", dtype_name(x.dtype), shape_str(shape));
  OCTET_CHECK(indices.shape == shape && indices.dtype == DType::i64, kOp, "indices ",
              dtype_name(indices.dtype), shape_str(indices.shape), " should be i64",
              shape_str(shape));
  const int device = device_of(kOp, {&x, &out, &indices});
  const int64_t total = out.numel();
  if (total == 0) return;
  dispatch_float(x.dtype, kOp, [&](auto t) {
    using T = decltype(t);
    forward_kernel<T><<<blocks_for(total), kThreads, 0, stream_on(device)>>>(
        x.ptr<const T>(), x.shape[2], x.shape[3], kernel, stride, shape[2], shape[3], out.ptr<T>(),
        indices.ptr<int64_t>(), total);
    OCTET_CUDA_CHECK_LAUNCH();
  });
}

void max_pool2d_backward(const View& grad_out, const View& indices, const View& grad_x) {
  OCTET_CHECK(grad_out.dim() == 4 && grad_x.dim() == 4 && indices.shape == grad_out.shape &&
                  indices.dtype == DType::i64 && grad_out.dtype == grad_x.dtype &&
                  grad_out.shape[0] == grad_x.shape[0] && grad_out.shape[1] == grad_x.shape[1],
              kOp, "backward got output gradient ", dtype_name(grad_out.dtype),
              shape_str(grad_out.shape), ", indices ", dtype_name(indices.dtype),
              shape_str(indices.shape), " and input gradient ", dtype_name(grad_x.dtype),
              shape_str(grad_x.shape));
  OCTET_CHECK(grad_out.is_contiguous() && indices.is_contiguous() && grad_x.is_contiguous(), kOp,
              "backward needs contiguous gradients and indices");
  const int device = device_of(kOp, {&grad_out, &indices, &grad_x});
  const int64_t plane = grad_x.shape[2] * grad_x.shape[3];
  const int64_t outs = grad_out.shape[2] * grad_out.shape[3];
  const int64_t total = grad_out.numel();
  dispatch_float(grad_x.dtype, kOp, [&](auto t) {
    using T = decltype(t);
    cudaStream_t s = stream_on(device);
    OCTET_CUDA_CHECK(cudaMemsetAsync(grad_x.data, 0, grad_x.numel() * sizeof(T), s));
    if (total == 0) return;
    IndexReport report(device);
    backward_kernel<T><<<blocks_for(total), kThreads, 0, s>>>(
        grad_out.ptr<const T>(), indices.ptr<const int64_t>(), grad_x.ptr<T>(), outs, plane, total,
        report.first_bad());
    OCTET_CUDA_CHECK_LAUNCH();
    const int64_t bad = report.read().first_bad;
    OCTET_CHECK(bad < 0, kOp, "arg-max index ",
                bad < 0 ? 0 : read_index(indices.ptr<const int64_t>() + bad, device),
                " at position ", bad, " falls outside planes of ", plane,
                " elements: the indices do not belong to this input");
  });
}

}  // namespace octet::cuda
