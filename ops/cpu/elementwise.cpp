#include "ops/cpu/elementwise.h"

#include <algorithm>
#include <cmath>

#include "ops/cpu/broadcast.h"
#include "ops/cpu/dispatch.h"
#include "ops/cpu/fast_math.h"
#include "ops/cpu/strided_loop.h"

namespace octet::cpu {
namespace {

template <BinaryOp OP, typename T>
inline T apply_binary(T a, T b) {
  if constexpr (OP == BinaryOp::add) return a + b;
  if constexpr (OP == BinaryOp::sub) return a - b;
  if constexpr (OP == BinaryOp::mul) return a * b;
  if constexpr (OP == BinaryOp::div) return a / b;
  if constexpr (OP == BinaryOp::maximum) return a > b ? a : b;
  if constexpr (OP == BinaryOp::minimum) return a < b ? a : b;
}

// GELU, tanh approximation (GPT-2's), and its derivative.
constexpr double kGeluC = 0.7978845608028654;  // sqrt(2/pi)
template <typename T>
inline T gelu(T x) {
  const T t = fast_tanh(T(kGeluC) * (x + T(0.044715) * x * x * x));
  return T(0.5) * x * (T(1) + t);
}
template <typename T>
inline T gelu_grad(T x) {
  const T t = fast_tanh(T(kGeluC) * (x + T(0.044715) * x * x * x));
  return T(0.5) * (T(1) + t) +
         T(0.5) * x * (T(1) - t * t) * T(kGeluC) * (T(1) + T(3 * 0.044715) * x * x);
}
template <typename T>
inline T sigmoid(T x) {
  return fast_sigmoid(x);
}

template <UnaryOp OP, typename T>
inline T apply_unary(T x) {
  if constexpr (OP == UnaryOp::neg) return -x;
  if constexpr (OP == UnaryOp::exp) return fast_exp(x);
  if constexpr (OP == UnaryOp::log) return std::log(x);
  if constexpr (OP == UnaryOp::tanh) return fast_tanh(x);
  if constexpr (OP == UnaryOp::relu) return x > T(0) ? x : T(0);
  if constexpr (OP == UnaryOp::gelu) return gelu(x);
  if constexpr (OP == UnaryOp::silu) return x * sigmoid(x);
  if constexpr (OP == UnaryOp::sigmoid) return sigmoid(x);
  if constexpr (OP == UnaryOp::sqrt) return std::sqrt(x);
  if constexpr (OP == UnaryOp::square) return x * x;
  if constexpr (OP == UnaryOp::abs) return std::abs(x);
}

// f'(x), from x or y = f(x) whichever is cheaper.
template <UnaryOp OP, typename T>
inline T unary_derivative(T x, T y) {
  if constexpr (OP == UnaryOp::neg) return T(-1);
  if constexpr (OP == UnaryOp::exp) return y;
  if constexpr (OP == UnaryOp::log) return T(1) / x;
  if constexpr (OP == UnaryOp::tanh) return T(1) - y * y;
  if constexpr (OP == UnaryOp::relu) return x > T(0) ? T(1) : T(0);
  if constexpr (OP == UnaryOp::gelu) return gelu_grad(x);
  if constexpr (OP == UnaryOp::silu) {
    const T s = sigmoid(x);
    return s * (T(1) + x * (T(1) - s));
  }
  if constexpr (OP == UnaryOp::sigmoid) return y * (T(1) - y);
  if constexpr (OP == UnaryOp::sqrt) return T(0.5) / y;
  if constexpr (OP == UnaryOp::square) return T(2) * x;
  if constexpr (OP == UnaryOp::abs) return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
}

template <BinaryOp OP, typename T>
void binary_typed(const View& a, const View& b, const View& out) {
  const T* pa = a.ptr<T>();
  const T* pb = b.ptr<T>();
  T* po = out.ptr<T>();
  for_each_row<3>(out.shape, {&a.strides, &b.strides, &out.strides}, [&](const RowCursor<3>& r) {
    const T* x = pa + r.offset[0];
    const T* y = pb + r.offset[1];
    T* z = po + r.offset[2];
    const int64_t n = r.length;
    if (r.step[0] == 1 && r.step[1] == 1 && r.step[2] == 1) {
      for (int64_t i = 0; i < n; ++i) z[i] = apply_binary<OP>(x[i], y[i]);
    } else if (r.step[0] == 1 && r.step[1] == 0 && r.step[2] == 1) {
      const T s = *y;
      for (int64_t i = 0; i < n; ++i) z[i] = apply_binary<OP>(x[i], s);
    } else {
      for (int64_t i = 0; i < n; ++i)
        z[i * r.step[2]] = apply_binary<OP>(x[i * r.step[0]], y[i * r.step[1]]);
    }
  });
}

template <typename T, typename Fn>
void map_unary(const View& x, const View& out, Fn&& f) {
  const T* px = x.ptr<T>();
  T* po = out.ptr<T>();
  for_each_row<2>(out.shape, {&x.strides, &out.strides}, [&](const RowCursor<2>& r) {
    const T* a = px + r.offset[0];
    T* z = po + r.offset[1];
    if (r.step[0] == 1 && r.step[1] == 1) {
      for (int64_t i = 0; i < r.length; ++i) z[i] = f(a[i]);
    } else {
      for (int64_t i = 0; i < r.length; ++i) z[i * r.step[1]] = f(a[i * r.step[0]]);
    }
  });
}

template <typename Fn>
void dispatch_binary(BinaryOp op, Fn&& fn) {
  switch (op) {
    case BinaryOp::add: fn.template operator()<BinaryOp::add>(); return;
    case BinaryOp::sub: fn.template operator()<BinaryOp::sub>(); return;
    case BinaryOp::mul: fn.template operator()<BinaryOp::mul>(); return;
    case BinaryOp::div: fn.template operator()<BinaryOp::div>(); return;
    case BinaryOp::maximum: fn.template operator()<BinaryOp::maximum>(); return;
    case BinaryOp::minimum: fn.template operator()<BinaryOp::minimum>(); return;
  }
}

template <typename Fn>
void dispatch_unary(UnaryOp op, Fn&& fn) {
  switch (op) {
    case UnaryOp::neg: fn.template operator()<UnaryOp::neg>(); return;
    case UnaryOp::exp: fn.template operator()<UnaryOp::exp>(); return;
    case UnaryOp::log: fn.template operator()<UnaryOp::log>(); return;
    case UnaryOp::tanh: fn.template operator()<UnaryOp::tanh>(); return;
    case UnaryOp::relu: fn.template operator()<UnaryOp::relu>(); return;
    case UnaryOp::gelu: fn.template operator()<UnaryOp::gelu>(); return;
    case UnaryOp::silu: fn.template operator()<UnaryOp::silu>(); return;
    case UnaryOp::sigmoid: fn.template operator()<UnaryOp::sigmoid>(); return;
    case UnaryOp::sqrt: fn.template operator()<UnaryOp::sqrt>(); return;
    case UnaryOp::square: fn.template operator()<UnaryOp::square>(); return;
    case UnaryOp::abs: fn.template operator()<UnaryOp::abs>(); return;
  }
}

}  // namespace

void binary(BinaryOp op, const View& a, const View& b, const View& out) {
  check_same_dtype("binary", a, b);
  check_same_dtype("binary", a, out);
  const View ab = broadcast_to(a, out.shape);
  const View bb = broadcast_to(b, out.shape);
  dispatch_float(out.dtype, "binary", [&](auto t) {
    using T = decltype(t);
    dispatch_binary(op, [&]<BinaryOp OP>() { binary_typed<OP, T>(ab, bb, out); });
  });
}

void binary_scalar(BinaryOp op, const View& a, double scalar, const View& out,
                   bool scalar_first) {
  check_same_dtype("binary_scalar", a, out);
  dispatch_float(out.dtype, "binary_scalar", [&](auto t) {
    using T = decltype(t);
    const T s = static_cast<T>(scalar);
    dispatch_binary(op, [&]<BinaryOp OP>() {
      if (scalar_first)
        map_unary<T>(a, out, [s](T x) { return apply_binary<OP>(s, x); });
      else
        map_unary<T>(a, out, [s](T x) { return apply_binary<OP>(x, s); });
    });
  });
}

void axpby(const View& a, double alpha, const View& b, double beta, const View& out) {
  check_same_dtype("axpby", a, b);
  check_same_dtype("axpby", a, out);
  dispatch_float(out.dtype, "axpby", [&](auto t) {
    using T = decltype(t);
    const T al = static_cast<T>(alpha), be = static_cast<T>(beta);
    const T* pa = a.ptr<T>();
    const T* pb = b.ptr<T>();
    T* po = out.ptr<T>();
    for_each_row<3>(out.shape, {&a.strides, &b.strides, &out.strides},
                    [&](const RowCursor<3>& r) {
                      const T* x = pa + r.offset[0];
                      const T* y = pb + r.offset[1];
                      T* z = po + r.offset[2];
                      for (int64_t i = 0; i < r.length; ++i)
                        z[i * r.step[2]] = al * x[i * r.step[0]] + be * y[i * r.step[1]];
                    });
  });
}

void unary(UnaryOp op, const View& x, const View& out) {
  check_same_dtype("unary", x, out);
  dispatch_float(out.dtype, "unary", [&](auto t) {
    using T = decltype(t);
    dispatch_unary(op, [&]<UnaryOp OP>() {
      map_unary<T>(x, out, [](T v) { return apply_unary<OP, T>(v); });
    });
  });
}

void unary_backward(UnaryOp op, const View& x, const View& y, const View& dy, const View& dx) {
  check_same_dtype("unary_backward", x, dy);
  dispatch_float(dx.dtype, "unary_backward", [&](auto t) {
    using T = decltype(t);
    const T* px = x.ptr<T>();
    const T* py = y.ptr<T>();
    const T* pg = dy.ptr<T>();
    T* po = dx.ptr<T>();
    dispatch_unary(op, [&]<UnaryOp OP>() {
      for_each_row<4>(dx.shape, {&x.strides, &y.strides, &dy.strides, &dx.strides},
                      [&](const RowCursor<4>& r) {
                        if (r.step[0] == 1 && r.step[1] == 1 && r.step[2] == 1 &&
                            r.step[3] == 1) {
                          const T* a = px + r.offset[0];
                          const T* b = py + r.offset[1];
                          const T* g = pg + r.offset[2];
                          T* o = po + r.offset[3];
                          for (int64_t i = 0; i < r.length; ++i)
                            o[i] = g[i] * unary_derivative<OP, T>(a[i], b[i]);
                          return;
                        }
                        for (int64_t i = 0; i < r.length; ++i)
                          po[r.offset[3] + i * r.step[3]] =
                              pg[r.offset[2] + i * r.step[2]] *
                              unary_derivative<OP, T>(px[r.offset[0] + i * r.step[0]],
                                                      py[r.offset[1] + i * r.step[1]]);
                      });
    });
  });
}

void pow_scalar(const View& x, double p, const View& out) {
  check_same_dtype("pow", x, out);
  dispatch_float(out.dtype, "pow", [&](auto t) {
    using T = decltype(t);
    const T e = static_cast<T>(p);
    map_unary<T>(x, out, [e](T v) { return std::pow(v, e); });
  });
}

}  // namespace octet::cpu
