#include "ops/cpu/conv.h"

#include <algorithm>
#include <vector>

#include "ops/conv_checks.h"
#include "ops/cpu/dispatch.h"
#include "ops/cpu/gemm.h"

namespace octet::cpu {
namespace {

constexpr const char* kOp = "conv2d";
// Below this many elements a loop runs on one thread: a parallel region costs a few microseconds.
constexpr int64_t kParallelWork = 1 << 15;
// Scratch per chunk of images (elements of columns plus packed gradient). 1M f32 values (4 MiB)
// stay in L3 between the unfold and the GEMM, and each GEMM gets thousands of columns; measured
// on the CNN's conv2 (batch 128, 2 threads), 256K..2M gave 33, 29, 26 and 34 ms forward+backward.
constexpr int64_t kChunkElements = 1 << 20;

// Output positions o in [lo, hi) whose tap o*stride + offset lands inside [0, in_size); the rest
// read padding.
struct Span {
  int64_t lo, hi;
};
Span inside(int64_t offset, int64_t stride, int64_t in_size, int64_t out_size) {
  const int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int64_t last = in_size - 1 - offset;
  const int64_t hi = last < 0 ? 0 : std::min(out_size, last / stride + 1);
  return {std::min(lo, out_size), std::max(std::min(lo, out_size), hi)};
}

View matrix(void* data, DType dtype, int64_t rows, int64_t cols, int64_t row_stride,
            int64_t col_stride) {
  View v;
  v.data = data;
  v.dtype = dtype;
  v.shape = {rows, cols};
  v.strides = {row_stride, col_stride};
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

// Reused per thread and slot, so steady-state training allocates nothing.
template <typename T>
T* scratch(int slot, int64_t n) {
  thread_local std::vector<T> buffers[3];
  auto& b = buffers[slot];
  if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
  return b.data();
}

// Where tap k of image n starts in a column buffer: cols + k * tap_stride + n * image_stride.
// [K, count*P] (the GEMM-friendly layout for dW) is {count*P, P}; per-image [count, K, P] is
// {P, K*P}.
struct ColumnLayout {
  int64_t tap_stride, image_stride;
};

template <typename T>
void im2col_typed(const T* x, const Conv2dGeometry& g, int64_t count, T* cols, ColumnLayout L) {
  const int64_t C = g.in_channels, H = g.height, W = g.width, KH = g.kernel_h, KW = g.kernel_w;
  const int64_t OH = g.out_h, OW = g.out_w, s = g.stride, p = g.padding;
#pragma omp parallel for collapse(2) \
    schedule(static) if (g.patch() * count * OH * OW > kParallelWork)
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t n = 0; n < count; ++n) {
      const T* plane = x + (n * C + c) * H * W;
      for (int64_t kh = 0; kh < KH; ++kh) {
        const Span rows = inside(kh - p, s, H, OH);
        for (int64_t kw = 0; kw < KW; ++kw) {
          const Span span = inside(kw - p, s, W, OW);
          T* dst = cols + ((c * KH + kh) * KW + kw) * L.tap_stride + n * L.image_stride;
          std::fill(dst, dst + rows.lo * OW, T(0));
          for (int64_t oh = rows.lo; oh < rows.hi; ++oh) {
            T* d = dst + oh * OW;
            std::fill(d, d + span.lo, T(0));
            std::fill(d + span.hi, d + OW, T(0));
            if (span.hi == span.lo) continue;
            const T* from = plane + (oh * s + kh - p) * W + (span.lo * s + kw - p);
            if (s == 1) {
              std::copy(from, from + (span.hi - span.lo), d + span.lo);
            } else {
              for (int64_t i = 0; i < span.hi - span.lo; ++i) d[span.lo + i] = from[i * s];
            }
          }
          std::fill(dst + rows.hi * OW, dst + OH * OW, T(0));
        }
      }
    }
  }
}

template <typename T>
void col2im_typed(const T* cols, const Conv2dGeometry& g, int64_t count, T* dx, ColumnLayout L) {
  const int64_t C = g.in_channels, H = g.height, W = g.width, KH = g.kernel_h, KW = g.kernel_w;
  const int64_t OH = g.out_h, OW = g.out_w, s = g.stride, p = g.padding;
  // One task per (image, channel) plane: only that channel's taps write into it, so no races.
#pragma omp parallel for collapse(2) \
    schedule(static) if (g.patch() * count * OH * OW > kParallelWork)
  for (int64_t n = 0; n < count; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      T* plane = dx + (n * C + c) * H * W;
      std::fill(plane, plane + H * W, T(0));
      for (int64_t kh = 0; kh < KH; ++kh) {
        const Span rows = inside(kh - p, s, H, OH);
        for (int64_t kw = 0; kw < KW; ++kw) {
          const Span span = inside(kw - p, s, W, OW);
          const T* src = cols + ((c * KH + kh) * KW + kw) * L.tap_stride + n * L.image_stride;
          if (span.hi == span.lo) continue;
          for (int64_t oh = rows.lo; oh < rows.hi; ++oh) {
            const T* from = src + oh * OW + span.lo;
            T* to = plane + (oh * s + kh - p) * W + (span.lo * s + kw - p);
            if (s == 1) {
              for (int64_t i = 0; i < span.hi - span.lo; ++i) to[i] += from[i];
            } else {
              for (int64_t i = 0; i < span.hi - span.lo; ++i) to[i * s] += from[i];
            }
          }
        }
      }
    }
  }
}

ColumnLayout flat_layout(const Conv2dGeometry& g, int64_t count) {
  return {count * g.out_pixels(), g.out_pixels()};
}

// A [batch, rows, cols] view; batch stride 0 repeats one matrix for every image.
View batched(const void* data, DType dtype, int64_t batch, int64_t rows, int64_t cols,
             int64_t batch_stride, int64_t row_stride, int64_t col_stride) {
  View v = matrix(const_cast<void*>(data), dtype, rows, cols, row_stride, col_stride);
  v.shape.insert(v.shape.begin(), batch);
  v.strides.insert(v.strides.begin(), batch_stride);
  return v;
}

int64_t images_per_chunk(const Conv2dGeometry& g) {
  const int64_t per_image = (g.patch() + g.out_channels) * g.out_pixels();
  return std::clamp<int64_t>(kChunkElements / per_image, 1, std::max<int64_t>(1, g.batch));
}

// Eight independent partial sums: strict FP ordering would otherwise keep the reduction a serial
// chain of dependent adds (4 cycles each), which was the costliest part of the bias gradient.
template <typename T>
double sum_of(const T* p, int64_t n) {
  T lanes[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) lanes[j] += p[i + j];
  double total = 0;
  for (int j = 0; j < 8; ++j) total += lanes[j];
  for (; i < n; ++i) total += p[i];
  return total;
}

// Reads NCHW gradient images once: copies them to [O, count*P] when `packed` is given (the
// layout the dW GEMM reduces over) and adds each channel's sum into bias_sum when given.
template <typename T>
void pack_grad(const T* grad, int64_t O, int64_t P, int64_t count, T* packed, double* bias_sum) {
#pragma omp parallel for schedule(static) if (O * P * count > kParallelWork)
  for (int64_t o = 0; o < O; ++o) {
    double total = 0;
    for (int64_t n = 0; n < count; ++n) {
      const T* src = grad + (n * O + o) * P;
      if (packed) std::copy(src, src + P, packed + (o * count + n) * P);
      if (bias_sum) total += sum_of(src, P);
    }
    if (bias_sum) bias_sum[o] += total;
  }
}

// Per chunk: unfold, then one batched GEMM W [O, K] @ columns of image n -> out[n], which is
// already NCHW. The bias rides along as one more GEMM row: columns get a row of ones and the
// weight a column holding the bias (a copy of O * (K+1) values, negligible next to the GEMM).
template <typename T>
void forward_typed(const View& x, const View& weight, const View* bias, const View& out,
                   const Conv2dGeometry& g) {
  const int64_t O = g.out_channels, K = g.patch(), P = g.out_pixels();
  const int64_t Kb = bias ? K + 1 : K;
  const DType dt = x.dtype;
  const T* w = weight.ptr<T>();
  if (bias) {
    T* wb = scratch<T>(1, O * Kb);
    for (int64_t o = 0; o < O; ++o) {
      std::copy(w + o * K, w + (o + 1) * K, wb + o * Kb);
      wb[o * Kb + K] = bias->ptr<T>()[o];
    }
    w = wb;
  }
  const int64_t chunk = images_per_chunk(g);
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t count = std::min(chunk, g.batch - n0), cols_n = count * P;
    T* cols = scratch<T>(0, Kb * cols_n);
    im2col_typed(images(x, n0, count).ptr<T>(), g, count, cols, flat_layout(g, count));
    std::fill(cols + K * cols_n, cols + Kb * cols_n, T(1));
    matmul(batched(w, dt, 1, O, Kb, 0, Kb, 1), batched(cols, dt, count, Kb, P, P, cols_n, 1),
           batched(images(out, n0, count).data, dt, count, O, P, O * P, P, 1));
  }
}

template <typename T>
void backward_typed(const View& x, const View& weight, const View& grad_out, const View* grad_x,
                    const View* grad_weight, const View* grad_bias, const Conv2dGeometry& g) {
  const int64_t O = g.out_channels, K = g.patch(), P = g.out_pixels();
  const DType dt = x.dtype;
  std::vector<double> bias_sum(grad_bias ? O : 0, 0.0);
  if (grad_weight && g.batch == 0) std::fill_n(grad_weight->ptr<T>(), O * K, T(0));
  const int64_t chunk = images_per_chunk(g);
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t count = std::min(chunk, g.batch - n0), cols_n = count * P;
    const T* grad = images(grad_out, n0, count).ptr<T>();
    // With one image the NCHW gradient already is [O, P]; otherwise dW needs it packed.
    T* packed = grad_weight && count > 1 ? scratch<T>(0, O * cols_n) : nullptr;
    if (packed || grad_bias)
      pack_grad(grad, O, P, count, packed, grad_bias ? bias_sum.data() : nullptr);
    if (grad_weight) {
      T* cols = scratch<T>(1, K * cols_n);
      im2col_typed(images(x, n0, count).ptr<T>(), g, count, cols, flat_layout(g, count));
      // dW [O, K] (+)= G [O, count*P] @ columns^T, read through transposed strides.
      matmul(matrix(packed ? packed : const_cast<T*>(grad), dt, O, cols_n, cols_n, 1),
             matrix(cols, dt, cols_n, K, 1, cols_n), matrix(grad_weight->data, dt, O, K, K, 1),
             nullptr, n0 > 0);
    }
    if (grad_x) {
      // Per image: dcols [K, P] = W^T @ G[n], W^T read through transposed strides and G straight
      // from the NCHW gradient; then fold the columns back onto the pixels.
      T* dcols = scratch<T>(2, K * cols_n);
      matmul(batched(weight.data, dt, 1, K, O, 0, 1, K),
             batched(grad, dt, count, O, P, O * P, P, 1),
             batched(dcols, dt, count, K, P, K * P, P, 1));
      col2im_typed(dcols, g, count, images(*grad_x, n0, count).ptr<T>(), ColumnLayout{P, K * P});
    }
  }
  if (grad_bias) {
    T* db = grad_bias->ptr<T>();
    for (int64_t o = 0; o < O; ++o) db[o] = static_cast<T>(bias_sum[o]);
  }
}

}  // namespace

Conv2dGeometry conv2d_geometry(const View& x, const View& weight, int64_t stride, int64_t padding) {
  OCTET_CHECK(x.dim() == 4, kOp, "input must be [N, C, H, W], got shape ", shape_str(x.shape));
  OCTET_CHECK(weight.dim() == 4, kOp, "weight must be [out_channels, in_channels, KH, KW], got ",
              "shape ", shape_str(weight.shape));
  OCTET_CHECK(x.device.type == DeviceType::cpu && weight.device.type == DeviceType::cpu, kOp,
              "the cpu kernel got tensors on ", x.device.str(), " and ", weight.device.str());
  check_same_dtype(kOp, x, weight);
  OCTET_CHECK(x.dtype == DType::f32 || x.dtype == DType::f64, kOp, "computes in f32 or f64, got ",
              dtype_name(x.dtype));
  OCTET_CHECK(x.shape[1] == weight.shape[1], kOp, "input ", shape_str(x.shape), " has ", x.shape[1],
              " channels but weight ", shape_str(weight.shape), " expects ", weight.shape[1],
              " (weight is [out_channels, in_channels, KH, KW])");
  OCTET_CHECK(stride >= 1 && padding >= 0, kOp, "needs stride >= 1 and padding >= 0, got stride ",
              stride, ", padding ", padding);
  for (int64_t d = 0; d < 4; ++d) {
    OCTET_CHECK(x.shape[d] >= (d == 0 ? 0 : 1) && weight.shape[d] >= 1, kOp,
                "empty dimension in input ", shape_str(x.shape), " or weight ",
                shape_str(weight.shape));
  }
  Conv2dGeometry g;
  g.batch = x.shape[0];
  g.in_channels = x.shape[1];
  g.height = x.shape[2];
  g.width = x.shape[3];
  g.out_channels = weight.shape[0];
  g.kernel_h = weight.shape[2];
  g.kernel_w = weight.shape[3];
  g.stride = stride;
  g.padding = padding;
  OCTET_CHECK(g.height + 2 * padding >= g.kernel_h && g.width + 2 * padding >= g.kernel_w, kOp,
              "kernel ", g.kernel_h, "x", g.kernel_w, " is larger than the input ", g.height, "x",
              g.width, " with padding ", padding);
  g.out_h = (g.height + 2 * padding - g.kernel_h) / stride + 1;
  g.out_w = (g.width + 2 * padding - g.kernel_w) / stride + 1;
  return g;
}

void im2col(const View& x, const Conv2dGeometry& g, const View& cols) {
  check_conv_images(x, g, "im2col input");
  check_conv_columns(cols, g, x.shape[0], x.dtype);
  dispatch_float(x.dtype, "im2col", [&](auto t) {
    using T = decltype(t);
    im2col_typed(x.ptr<T>(), g, x.shape[0], cols.ptr<T>(), flat_layout(g, x.shape[0]));
  });
}

void col2im(const View& cols, const Conv2dGeometry& g, const View& dx) {
  check_conv_images(dx, g, "col2im output");
  check_conv_columns(cols, g, dx.shape[0], dx.dtype);
  dispatch_float(dx.dtype, "col2im", [&](auto t) {
    using T = decltype(t);
    col2im_typed(cols.ptr<T>(), g, dx.shape[0], dx.ptr<T>(), flat_layout(g, dx.shape[0]));
  });
}

void conv2d_forward(const View& x, const View& weight, const View* bias, const View& out,
                    int64_t stride, int64_t padding) {
  const Conv2dGeometry g = conv2d_geometry(x, weight, stride, padding);
  check_conv2d_forward(x, weight, bias, out, g);
  dispatch_float(x.dtype, kOp,
                 [&](auto t) { forward_typed<decltype(t)>(x, weight, bias, out, g); });
}

void conv2d_backward(const View& x, const View& weight, const View& grad_out, int64_t stride,
                     int64_t padding, const View* grad_x, const View* grad_weight,
                     const View* grad_bias) {
  const Conv2dGeometry g = conv2d_geometry(x, weight, stride, padding);
  check_conv2d_backward(x, weight, grad_out, grad_x, grad_weight, grad_bias, g);
  dispatch_float(x.dtype, kOp, [&](auto t) {
    backward_typed<decltype(t)>(x, weight, grad_out, grad_x, grad_weight, grad_bias, g);
  });
}

}  // namespace octet::cpu
