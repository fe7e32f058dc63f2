#include <algorithm>

#include "ops/conv_checks.h"
#include "ops/cuda/check.h"
#include "ops/cuda/conv.h"
#include "ops/cuda/gemm.h"
#include "ops/cuda/indexing.cuh"
#include "ops/cuda/launch_checks.h"
#include "ops/cuda/row_reduce.cuh"

namespace octet::cuda {
namespace {

using cpu::Conv2dGeometry;

constexpr const char* kOp = "conv2d";
// Scratch per chunk of images (columns, packed gradient, column gradient): 64M elements (256 MiB
// in f32) bounds the memory of a large batch while keeping the GEMMs large.
constexpr int64_t kChunkElements = int64_t(1) << 26;

// The geometry as plain numbers for the kernels (Conv2dGeometry's members are host functions).
struct Geo {
  int64_t C, H, W, KH, KW, OH, OW, s, p;
};

Geo geo_of(const Conv2dGeometry& g) {
  return {g.in_channels, g.height, g.width,  g.kernel_h, g.kernel_w,
          g.out_h,       g.out_w,  g.stride, g.padding};
}

// Where tap k of image n starts in a column buffer: cols + k * tap + n * image (the CPU's
// ColumnLayout): [K, count*P] is {count*P, P}, per image [count, K, P] is {P, K*P}.
struct Layout {
  int64_t tap, image;
};

// One thread per column entry, walked in the flat layout's order so writes are coalesced.
template <typename T>
__global__ void im2col_kernel(const T* x, Geo g, int64_t count, T* cols, Layout L, int64_t total) {
  const int64_t P = g.OH * g.OW;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t pix = e % P, rest = e / P;
    const int64_t n = rest % count, k = rest / count;
    const int64_t kw = k % g.KW, kh = (k / g.KW) % g.KH, c = k / (g.KW * g.KH);
    const int64_t oh = pix / g.OW, ow = pix - oh * g.OW;
    const int64_t ih = oh * g.s + kh - g.p, iw = ow * g.s + kw - g.p;
    const bool inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
    cols[k * L.tap + n * L.image + pix] = inside ? x[((n * g.C + c) * g.H + ih) * g.W + iw] : T(0);
  }
}

// One thread per pixel of dx: the taps that read it, added from zero in (kh, kw) order as the
// CPU's col2im adds them.
template <typename T>
__global__ void col2im_kernel(const T* cols, Geo g, int64_t count, T* dx, Layout L, int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t w = e % g.W, h = (e / g.W) % g.H;
    const int64_t c = (e / (g.W * g.H)) % g.C, n = e / (g.W * g.H * g.C);
    T sum = 0;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const int64_t oh_s = h + g.p - kh;
      if (oh_s < 0 || oh_s % g.s != 0 || oh_s / g.s >= g.OH) continue;
      const int64_t oh = oh_s / g.s;
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t ow_s = w + g.p - kw;
        if (ow_s < 0 || ow_s % g.s != 0 || ow_s / g.s >= g.OW) continue;
        const int64_t k = (c * g.KH + kh) * g.KW + kw;
        sum += cols[k * L.tap + n * L.image + oh * g.OW + ow_s / g.s];
      }
    }
    dx[e] = sum;
  }
}

// out[n, o, :] += bias[o] over an NCHW output of `total` elements.
template <typename T>
__global__ void add_bias_kernel(T* out, const T* bias, int64_t O, int64_t P, int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x)
    out[e] += bias[(e / P) % O];
}

// packed [O, count*P] = the NCHW gradient [count, O, P] with its first two axes swapped: the
// layout the dW GEMM reduces over.
template <typename T>
__global__ void pack_kernel(const T* grad, int64_t O, int64_t P, int64_t count, T* packed,
                            int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = e % P, n = (e / P) % count, o = e / (P * count);
    packed[e] = grad[(n * O + o) * P + p];
  }
}

// db[o] = the sum of grad[:, o, :], one block per channel, accumulated in double as on the CPU.
template <typename T>
__global__ void bias_grad_kernel(const T* grad, int64_t N, int64_t O, int64_t P, T* db) {
  for (int64_t o = blockIdx.x; o < O; o += gridDim.x) {
    double total = 0;
    for (int64_t e = threadIdx.x; e < N * P; e += blockDim.x) {
      const int64_t n = e / P, p = e - n * P;
      total += static_cast<double>(grad[(n * O + o) * P + p]);
    }
    total = block_sum(total);
    if (threadIdx.x == 0) db[o] = static_cast<T>(total);
  }
}

View matrix(void* data, DType dtype, int device, Shape shape, Shape strides) {
  View v;
  v.data = data;
  v.dtype = dtype;
  v.device = Device{DeviceType::cuda, device};
  v.shape = std::move(shape);
  v.strides = std::move(strides);
  return v;
}

// Images [first, first + count) of a contiguous NCHW view.
View images(const View& v, int64_t first, int64_t count) {
  View out = v;
  const int64_t per_image = v.shape[1] * v.shape[2] * v.shape[3];
  out.data = static_cast<char*>(v.data) + first * per_image * dtype_size(v.dtype);
  out.shape[0] = count;
  return out;
}

int64_t images_per_chunk(const Conv2dGeometry& g, int64_t per_image_elements) {
  return std::clamp<int64_t>(kChunkElements / std::max<int64_t>(1, per_image_elements), 1,
                             std::max<int64_t>(1, g.batch));
}

template <typename T>
void launch_im2col(const T* x, const Conv2dGeometry& g, int64_t count, T* cols, Layout L,
                   cudaStream_t s) {
  const int64_t total = g.patch() * count * g.out_pixels();
  if (total == 0) return;
  im2col_kernel<T><<<blocks_for(total), kThreads, 0, s>>>(x, geo_of(g), count, cols, L, total);
  OCTET_CUDA_CHECK_LAUNCH();
}

template <typename T>
void launch_col2im(const T* cols, const Conv2dGeometry& g, int64_t count, T* dx, Layout L,
                   cudaStream_t s) {
  const int64_t total = count * g.in_channels * g.height * g.width;
  if (total == 0) return;
  col2im_kernel<T><<<blocks_for(total), kThreads, 0, s>>>(cols, geo_of(g), count, dx, L, total);
  OCTET_CUDA_CHECK_LAUNCH();
}

Layout flat_layout(const Conv2dGeometry& g, int64_t count) {
  return {count * g.out_pixels(), g.out_pixels()};
}

// Per chunk: unfold, then one batched GEMM W [O, K] (broadcast) @ columns of image n -> out[n],
// which is already NCHW; then the bias in one pass.
template <typename T>
void forward_typed(const View& x, const View& weight, const View* bias, const View& out,
                   const Conv2dGeometry& g, int device) {
  const int64_t O = g.out_channels, K = g.patch(), P = g.out_pixels();
  const DType dt = x.dtype;
  cudaStream_t s = stream_on(device);
  const int64_t chunk = images_per_chunk(g, K * P);
  DeviceBuffer cols(static_cast<size_t>(K * std::min(chunk, g.batch) * P) * sizeof(T), device);
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t count = std::min(chunk, g.batch - n0), cols_n = count * P;
    launch_im2col(images(x, n0, count).ptr<const T>(), g, count, cols.as<T>(),
                  flat_layout(g, count), s);
    matmul(matrix(weight.data, dt, device, {1, O, K}, {0, K, 1}),
           matrix(cols.get(), dt, device, {count, K, P}, {P, cols_n, 1}),
           matrix(images(out, n0, count).data, dt, device, {count, O, P}, {O * P, P, 1}));
  }
  const int64_t total = out.numel();
  if (bias && total > 0) {
    add_bias_kernel<T>
        <<<blocks_for(total), kThreads, 0, s>>>(out.ptr<T>(), bias->ptr<const T>(), O, P, total);
    OCTET_CUDA_CHECK_LAUNCH();
  }
}

template <typename T>
void backward_typed(const View& x, const View& weight, const View& grad_out, const View* grad_x,
                    const View* grad_weight, const View* grad_bias, const Conv2dGeometry& g,
                    int device) {
  const int64_t O = g.out_channels, K = g.patch(), P = g.out_pixels();
  const DType dt = x.dtype;
  cudaStream_t s = stream_on(device);
  if (grad_bias) {
    bias_grad_kernel<T><<<row_blocks(O), row_threads(g.batch * P, 256), 0, s>>>(
        grad_out.ptr<const T>(), g.batch, O, P, grad_bias->ptr<T>());
    OCTET_CUDA_CHECK_LAUNCH();
  }
  if (grad_weight && g.batch == 0)
    OCTET_CUDA_CHECK(cudaMemsetAsync(grad_weight->data, 0, O * K * sizeof(T), s));
  if (!grad_weight && !grad_x) return;
  const int64_t chunk = images_per_chunk(g, (2 * K + O) * P);
  const size_t chunk_cols = static_cast<size_t>(K * std::min(chunk, g.batch) * P);
  DeviceBuffer packed(
      grad_weight ? static_cast<size_t>(O * std::min(chunk, g.batch) * P) * sizeof(T) : 0, device);
  DeviceBuffer cols(grad_weight ? chunk_cols * sizeof(T) : 0, device);
  DeviceBuffer dcols(grad_x ? chunk_cols * sizeof(T) : 0, device);
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t count = std::min(chunk, g.batch - n0), cols_n = count * P;
    const T* grad = images(grad_out, n0, count).ptr<const T>();
    if (grad_weight) {
      // With one image the NCHW gradient already is [O, P]; otherwise dW needs it packed.
      const T* g_rows = grad;
      if (count > 1) {
        const int64_t total = O * cols_n;
        pack_kernel<T>
            <<<blocks_for(total), kThreads, 0, s>>>(grad, O, P, count, packed.as<T>(), total);
        OCTET_CUDA_CHECK_LAUNCH();
        g_rows = packed.as<T>();
      }
      launch_im2col(images(x, n0, count).ptr<const T>(), g, count, cols.as<T>(),
                    flat_layout(g, count), s);
      // dW [O, K] (+)= G [O, count*P] @ columns^T, read through transposed strides.
      matmul(matrix(const_cast<T*>(g_rows), dt, device, {O, cols_n}, {cols_n, 1}),
             matrix(cols.get(), dt, device, {cols_n, K}, {1, cols_n}),
             matrix(grad_weight->data, dt, device, {O, K}, {K, 1}), nullptr, n0 > 0);
    }
    if (grad_x) {
      // Per image: dcols [K, P] = W^T @ G[n], W^T read through transposed strides; then fold the
      // columns back onto the pixels.
      matmul(matrix(weight.data, dt, device, {1, K, O}, {0, 1, K}),
             matrix(const_cast<T*>(grad), dt, device, {count, O, P}, {O * P, P, 1}),
             matrix(dcols.get(), dt, device, {count, K, P}, {K * P, P, 1}));
      launch_col2im(dcols.as<const T>(), g, count, images(*grad_x, n0, count).ptr<T>(),
                    Layout{P, K * P}, s);
    }
  }
}

}  // namespace

Conv2dGeometry conv2d_geometry(const View& x, const View& weight, int64_t stride, int64_t padding) {
  device_of(kOp, {&x, &weight});
  // The geometry depends on shapes and dtypes only; the CPU's function holds the one copy of
  // those checks and refuses device views, so it gets their host-typed twins (never read).
  View xh = x, wh = weight;
  xh.device = wh.device = Device{};
  return cpu::conv2d_geometry(xh, wh, stride, padding);
}

void im2col(const View& x, const Conv2dGeometry& g, const View& cols) {
  check_conv_images(x, g, "im2col input");
  check_conv_columns(cols, g, x.shape[0], x.dtype);
  const int device = device_of("im2col", {&x, &cols});
  dispatch_float(x.dtype, "im2col", [&](auto t) {
    using T = decltype(t);
    launch_im2col(x.ptr<const T>(), g, x.shape[0], cols.ptr<T>(), flat_layout(g, x.shape[0]),
                  stream_on(device));
  });
}

void col2im(const View& cols, const Conv2dGeometry& g, const View& dx) {
  check_conv_images(dx, g, "col2im output");
  check_conv_columns(cols, g, dx.shape[0], dx.dtype);
  const int device = device_of("col2im", {&cols, &dx});
  dispatch_float(dx.dtype, "col2im", [&](auto t) {
    using T = decltype(t);
    launch_col2im(cols.ptr<const T>(), g, dx.shape[0], dx.ptr<T>(), flat_layout(g, dx.shape[0]),
                  stream_on(device));
  });
}

void conv2d_forward(const View& x, const View& weight, const View* bias, const View& out,
                    int64_t stride, int64_t padding) {
  const Conv2dGeometry g = conv2d_geometry(x, weight, stride, padding);
  check_conv2d_forward(x, weight, bias, out, g);
  if (bias) device_of(kOp, {&x, bias});
  const int device = device_of(kOp, {&x, &out});
  dispatch_float(x.dtype, kOp,
                 [&](auto t) { forward_typed<decltype(t)>(x, weight, bias, out, g, device); });
}

void conv2d_backward(const View& x, const View& weight, const View& grad_out, int64_t stride,
                     int64_t padding, const View* grad_x, const View* grad_weight,
                     const View* grad_bias) {
  const Conv2dGeometry g = conv2d_geometry(x, weight, stride, padding);
  check_conv2d_backward(x, weight, grad_out, grad_x, grad_weight, grad_bias, g);
  const int device = device_of(kOp, {&x, &grad_out});
  for (const View* v : {grad_x, grad_weight, grad_bias})
    if (v) device_of(kOp, {&x, v});
  dispatch_float(x.dtype, kOp, [&](auto t) {
    backward_typed<decltype(t)>(x, weight, grad_out, grad_x, grad_weight, grad_bias, g, device);
  });
}

}  // namespace octet::cuda
