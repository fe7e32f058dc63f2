#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "ops/cpu/broadcast.h"
#include "ops/cpu/dispatch.h"
#include "ops/cuda/check.h"
#include "ops/cuda/elementwise.h"
#include "ops/cuda/elementwise_index.cuh"
#include "ops/cuda/elementwise_math.cuh"
#include "ops/cuda/indexing.cuh"

namespace octet::cuda {
namespace {

using cpu::check_same_dtype;
using cpu::dispatch_float;

// ---- per-element functors (the CPU's lambdas) -------------------------------------------------

template <UnaryOp OP, typename T>
struct UnaryFn {
  __device__ T operator()(T x) const { return math::apply_unary<OP, T>(x); }
};

template <BinaryOp OP, typename T, bool SCALAR_FIRST>
struct ScalarFn {
  T s;
  __device__ T operator()(T x) const {
    if constexpr (SCALAR_FIRST)
      return math::apply_binary<OP>(s, x);
    else
      return math::apply_binary<OP>(x, s);
  }
};

template <typename T>
struct PowFn {
  T e;
  __device__ T operator()(T x) const { return math::pow_of(x, e); }
};

template <BinaryOp OP, typename T>
struct BinaryFn {
  __device__ T operator()(T a, T b) const { return math::apply_binary<OP>(a, b); }
};

template <typename T>
struct AxpbyFn {
  T alpha, beta;
  __device__ T operator()(T a, T b) const { return alpha * a + beta * b; }
};

template <UnaryOp OP, typename T>
struct BackwardFn {
  __device__ T operator()(T x, T y, T g) const { return g * math::unary_derivative<OP, T>(x, y); }
};

// ---- kernels: grid-stride loops; when every operand is contiguous a plain one, in 16-byte packs
// (one 128-bit load per operand and pack) when every pointer is 16-byte aligned ---------------

enum Layout : int { kStrided, kDense, kPacked };

template <typename T>
struct alignas(16) Pack {
  static constexpr int K = 16 / sizeof(T);
  T v[K];
};

#define OCTET_GRID_STRIDE(i, n)                                             \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

template <typename T, typename Fn>
__global__ void map1_kernel(const T* x, T* out, int64_t n, Layout layout, StridedIndex<2> ix,
                            Fn fn) {
  if (layout == kStrided) {
    OCTET_GRID_STRIDE(i, n) {
      int64_t off[2];
      offsets_of(ix, i, off);
      out[off[1]] = fn(x[off[0]]);
    }
    return;
  }
  int64_t done = 0;
  if (layout == kPacked) {
    constexpr int K = Pack<T>::K;
    const Pack<T>* xp = reinterpret_cast<const Pack<T>*>(x);
    Pack<T>* op = reinterpret_cast<Pack<T>*>(out);
    OCTET_GRID_STRIDE(j, n / K) {
      const Pack<T> a = xp[j];
      Pack<T> r;
#pragma unroll
      for (int k = 0; k < K; ++k) r.v[k] = fn(a.v[k]);
      op[j] = r;
    }
    done = n / K * K;
  }
  OCTET_GRID_STRIDE(t, n - done) out[done + t] = fn(x[done + t]);
}

template <typename T, typename Fn>
__global__ void map2_kernel(const T* a, const T* b, T* out, int64_t n, Layout layout,
                            StridedIndex<3> ix, Fn fn) {
  if (layout == kStrided) {
    OCTET_GRID_STRIDE(i, n) {
      int64_t off[3];
      offsets_of(ix, i, off);
      out[off[2]] = fn(a[off[0]], b[off[1]]);
    }
    return;
  }
  int64_t done = 0;
  if (layout == kPacked) {
    constexpr int K = Pack<T>::K;
    const Pack<T>* ap = reinterpret_cast<const Pack<T>*>(a);
    const Pack<T>* bp = reinterpret_cast<const Pack<T>*>(b);
    Pack<T>* op = reinterpret_cast<Pack<T>*>(out);
    OCTET_GRID_STRIDE(j, n / K) {
      const Pack<T> u = ap[j], v = bp[j];
      Pack<T> r;
#pragma unroll
      for (int k = 0; k < K; ++k) r.v[k] = fn(u.v[k], v.v[k]);
      op[j] = r;
    }
    done = n / K * K;
  }
  OCTET_GRID_STRIDE(t, n - done) out[done + t] = fn(a[done + t], b[done + t]);
}

template <typename T, typename Fn>
__global__ void map3_kernel(const T* x, const T* y, const T* g, T* out, int64_t n, Layout layout,
                            StridedIndex<4> ix, Fn fn) {
  if (layout == kStrided) {
    OCTET_GRID_STRIDE(i, n) {
      int64_t off[4];
      offsets_of(ix, i, off);
      out[off[3]] = fn(x[off[0]], y[off[1]], g[off[2]]);
    }
    return;
  }
  int64_t done = 0;
  if (layout == kPacked) {
    constexpr int K = Pack<T>::K;
    const Pack<T>* xp = reinterpret_cast<const Pack<T>*>(x);
    const Pack<T>* yp = reinterpret_cast<const Pack<T>*>(y);
    const Pack<T>* gp = reinterpret_cast<const Pack<T>*>(g);
    Pack<T>* op = reinterpret_cast<Pack<T>*>(out);
    OCTET_GRID_STRIDE(j, n / K) {
      const Pack<T> u = xp[j], v = yp[j], w = gp[j];
      Pack<T> r;
#pragma unroll
      for (int k = 0; k < K; ++k) r.v[k] = fn(u.v[k], v.v[k], w.v[k]);
      op[j] = r;
    }
    done = n / K * K;
  }
  OCTET_GRID_STRIDE(t, n - done) out[done + t] = fn(x[done + t], y[done + t], g[done + t]);
}

#undef OCTET_GRID_STRIDE

// Same shape as `out` and contiguous: the fast path may index all of them by i.
bool dense_like(const View& v, const View& out) {
  return v.shape == out.shape && v.is_contiguous();
}

// How the kernels may walk the operands: `dense` when all are dense_like out, and in packs when
// every pointer is 16-byte aligned too.
Layout layout_of(bool dense, std::initializer_list<const View*> views) {
  if (!dense) return kStrided;
  for (const View* v : views)
    if (!is_aligned(v->data, 16)) return kDense;
  return kPacked;
}

void check_shape(const char* op, const View& v, const View& out) {
  OCTET_CHECK(v.shape == out.shape, op, "shapes differ: ", shape_str(v.shape), " vs ",
              shape_str(out.shape));
}

template <typename T, typename Fn>
void map1(const char* op, const View& x, const View& out, Fn fn) {
  check_shape(op, x, out);
  const int64_t n = out.numel();
  if (n == 0) return;
  cudaStream_t s = stream_on(out.device.index);
  const bool contiguous = dense_like(x, out) && out.is_contiguous();
  const Shape* strides[2] = {&x.strides, &out.strides};
  const StridedIndex<2> ix =
      contiguous ? StridedIndex<2>{} : make_coalesced_index<2>(op, out.shape, strides);
  map1_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(x.ptr<const T>(), out.ptr<T>(), n,
                                                    layout_of(contiguous, {&x, &out}), ix, fn);
  OCTET_CUDA_CHECK_LAUNCH();
}

// a and b already have out's shape (broadcast views carry stride 0).
template <typename T, typename Fn>
void map2(const char* op, const View& a, const View& b, const View& out, Fn fn) {
  check_shape(op, a, out);
  check_shape(op, b, out);
  const int64_t n = out.numel();
  if (n == 0) return;
  cudaStream_t s = stream_on(out.device.index);
  const bool contiguous = dense_like(a, out) && dense_like(b, out) && out.is_contiguous();
  const Shape* strides[3] = {&a.strides, &b.strides, &out.strides};
  const StridedIndex<3> ix =
      contiguous ? StridedIndex<3>{} : make_coalesced_index<3>(op, out.shape, strides);
  map2_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(a.ptr<const T>(), b.ptr<const T>(),
                                                    out.ptr<T>(), n,
                                                    layout_of(contiguous, {&a, &b, &out}), ix, fn);
  OCTET_CUDA_CHECK_LAUNCH();
}

template <typename T, typename Fn>
void map3(const char* op, const View& x, const View& y, const View& g, const View& out, Fn fn) {
  check_shape(op, x, out);
  check_shape(op, y, out);
  check_shape(op, g, out);
  const int64_t n = out.numel();
  if (n == 0) return;
  cudaStream_t s = stream_on(out.device.index);
  const bool contiguous =
      dense_like(x, out) && dense_like(y, out) && dense_like(g, out) && out.is_contiguous();
  const Shape* strides[4] = {&x.strides, &y.strides, &g.strides, &out.strides};
  const StridedIndex<4> ix =
      contiguous ? StridedIndex<4>{} : make_coalesced_index<4>(op, out.shape, strides);
  map3_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(
      x.ptr<const T>(), y.ptr<const T>(), g.ptr<const T>(), out.ptr<T>(), n,
      layout_of(contiguous, {&x, &y, &g, &out}), ix, fn);
  OCTET_CUDA_CHECK_LAUNCH();
}

// Calls fn(std::integral_constant<Op, op>{}) so kernels are instantiated per op.
template <typename Fn>
void dispatch_binary(BinaryOp op, Fn&& fn) {
  using C = BinaryOp;
  switch (op) {
    case C::add:
      fn(std::integral_constant<C, C::add>{});
      return;
    case C::sub:
      fn(std::integral_constant<C, C::sub>{});
      return;
    case C::mul:
      fn(std::integral_constant<C, C::mul>{});
      return;
    case C::div:
      fn(std::integral_constant<C, C::div>{});
      return;
    case C::maximum:
      fn(std::integral_constant<C, C::maximum>{});
      return;
    case C::minimum:
      fn(std::integral_constant<C, C::minimum>{});
      return;
  }
}

template <typename Fn>
void dispatch_unary(UnaryOp op, Fn&& fn) {
  using C = UnaryOp;
  switch (op) {
    case C::neg:
      fn(std::integral_constant<C, C::neg>{});
      return;
    case C::exp:
      fn(std::integral_constant<C, C::exp>{});
      return;
    case C::log:
      fn(std::integral_constant<C, C::log>{});
      return;
    case C::tanh:
      fn(std::integral_constant<C, C::tanh>{});
      return;
    case C::relu:
      fn(std::integral_constant<C, C::relu>{});
      return;
    case C::gelu:
      fn(std::integral_constant<C, C::gelu>{});
      return;
    case C::silu:
      fn(std::integral_constant<C, C::silu>{});
      return;
    case C::sigmoid:
      fn(std::integral_constant<C, C::sigmoid>{});
      return;
    case C::sqrt:
      fn(std::integral_constant<C, C::sqrt>{});
      return;
    case C::square:
      fn(std::integral_constant<C, C::square>{});
      return;
    case C::abs:
      fn(std::integral_constant<C, C::abs>{});
      return;
  }
}

}  // namespace

void binary(BinaryOp op, const View& a, const View& b, const View& out) {
  check_same_dtype("binary", a, b);
  check_same_dtype("binary", a, out);
  device_of("binary", {&a, &b, &out});
  const View ab = cpu::broadcast_to(a, out.shape);
  const View bb = cpu::broadcast_to(b, out.shape);
  dispatch_float(out.dtype, "binary", [&](auto t) {
    using T = decltype(t);
    dispatch_binary(
        op, [&](auto c) { map2<T>("binary", ab, bb, out, BinaryFn<decltype(c)::value, T>{}); });
  });
}

void binary_scalar(BinaryOp op, const View& a, double scalar, const View& out, bool scalar_first) {
  check_same_dtype("binary_scalar", a, out);
  device_of("binary_scalar", {&a, &out});
  dispatch_float(out.dtype, "binary_scalar", [&](auto t) {
    using T = decltype(t);
    const T s = static_cast<T>(scalar);
    dispatch_binary(op, [&](auto c) {
      constexpr BinaryOp OP = decltype(c)::value;
      if (scalar_first)
        map1<T>("binary_scalar", a, out, ScalarFn<OP, T, true>{s});
      else
        map1<T>("binary_scalar", a, out, ScalarFn<OP, T, false>{s});
    });
  });
}

void axpby(const View& a, double alpha, const View& b, double beta, const View& out) {
  check_same_dtype("axpby", a, b);
  check_same_dtype("axpby", a, out);
  device_of("axpby", {&a, &b, &out});
  dispatch_float(out.dtype, "axpby", [&](auto t) {
    using T = decltype(t);
    map2<T>("axpby", a, b, out, AxpbyFn<T>{static_cast<T>(alpha), static_cast<T>(beta)});
  });
}

void unary(UnaryOp op, const View& x, const View& out) {
  check_same_dtype("unary", x, out);
  device_of("unary", {&x, &out});
  dispatch_float(out.dtype, "unary", [&](auto t) {
    using T = decltype(t);
    dispatch_unary(op, [&](auto c) { map1<T>("unary", x, out, UnaryFn<decltype(c)::value, T>{}); });
  });
}

void unary_backward(UnaryOp op, const View& x, const View& y, const View& dy, const View& dx) {
  check_same_dtype("unary_backward", x, dy);
  check_same_dtype("unary_backward", x, y);
  check_same_dtype("unary_backward", x, dx);
  device_of("unary_backward", {&x, &y, &dy, &dx});
  dispatch_float(dx.dtype, "unary_backward", [&](auto t) {
    using T = decltype(t);
    dispatch_unary(op, [&](auto c) {
      map3<T>("unary_backward", x, y, dy, dx, BackwardFn<decltype(c)::value, T>{});
    });
  });
}

void pow_scalar(const View& x, double p, const View& out) {
  check_same_dtype("pow", x, out);
  device_of("pow", {&x, &out});
  dispatch_float(out.dtype, "pow", [&](auto t) {
    using T = decltype(t);
    map1<T>("pow", x, out, PowFn<T>{static_cast<T>(p)});
  });
}

}  // namespace octet::cuda
