#pragma once
// The scalar math of the elementwise kernels on the device, written as the CPU's twins
// (ops/cpu/fast_math.h and the helpers of ops/cpu/elementwise.cpp) with the same constants and
// the same operations in the same order, so f32 results agree with the host's to a few ulp (the
// compilers may fuse different multiply-adds). f64 goes through CUDA's libm, as the host's goes
// through its own. Included by the .cu files of ops/cuda/ only.
#include <cstdint>

#include "ops/cpu/elementwise.h"

namespace octet::cuda::math {

// e^x as ops/cpu/fast_math.h computes it: 2^n * e^r with a degree-7 polynomial; 0 below FLT_MIN
// and for -inf, NaN stays NaN, x > 88 saturates at e^88.
__device__ inline float fast_exp(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693145751953125f;
  constexpr float kLn2Lo = 1.42860682030941723e-6f;
  constexpr float kRoundMagic = 12582912.0f;
  x = 88.0f < x ? 88.0f : x;  // std::min(x, 88.0f), which keeps NaN
  const float n = (x * kLog2e + kRoundMagic) - kRoundMagic;
  const float r = (x - n * kLn2Hi) - n * kLn2Lo;
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t ni = static_cast<int32_t>(n > -127.0f ? n : -127.0f);
  const float e = p * __int_as_float((ni + 127) << 23);
  const int32_t keep = (ni >= -126) || (x != x) ? -1 : 0;
  return __int_as_float(__float_as_int(e) & keep);
}

__device__ inline float fast_tanh(float x) {
  const float a = fabsf(x);
  const float e = fast_exp(2.0f * a);
  const float big = 1.0f - 2.0f / (e + 1.0f);
  const float x2 = a * a;
  const float small = a * (1.0f + x2 * (-0.333333333f + x2 * (0.133333333f + x2 * -0.053968254f)));
  const float t = a < 0.125f ? small : big;
  return copysignf(t, x);
}

__device__ inline float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

__device__ inline double fast_exp(double x) { return ::exp(x); }
__device__ inline double fast_tanh(double x) { return ::tanh(x); }
__device__ inline double fast_sigmoid(double x) { return 1.0 / (1.0 + ::exp(-x)); }

__device__ inline float log_of(float x) { return logf(x); }
__device__ inline double log_of(double x) { return ::log(x); }
__device__ inline float sqrt_of(float x) { return sqrtf(x); }
__device__ inline double sqrt_of(double x) { return ::sqrt(x); }
__device__ inline float abs_of(float x) { return fabsf(x); }
__device__ inline double abs_of(double x) { return ::fabs(x); }
__device__ inline float pow_of(float x, float p) { return powf(x, p); }
__device__ inline double pow_of(double x, double p) { return ::pow(x, p); }

using cpu::BinaryOp;
using cpu::UnaryOp;

template <BinaryOp OP, typename T>
__device__ inline T apply_binary(T a, T b) {
  if constexpr (OP == BinaryOp::add) return a + b;
  if constexpr (OP == BinaryOp::sub) return a - b;
  if constexpr (OP == BinaryOp::mul) return a * b;
  if constexpr (OP == BinaryOp::div) return a / b;
  if constexpr (OP == BinaryOp::maximum) return a > b ? a : b;
  if constexpr (OP == BinaryOp::minimum) return a < b ? a : b;
}

// GELU, tanh approximation (GPT-2's), and its derivative: the CPU's formulas.
constexpr double kGeluC = 0.7978845608028654;  // sqrt(2/pi)
template <typename T>
__device__ inline T gelu(T x) {
  const T t = fast_tanh(T(kGeluC) * (x + T(0.044715) * x * x * x));
  return T(0.5) * x * (T(1) + t);
}
template <typename T>
__device__ inline T gelu_grad(T x) {
  const T t = fast_tanh(T(kGeluC) * (x + T(0.044715) * x * x * x));
  return T(0.5) * (T(1) + t) +
         T(0.5) * x * (T(1) - t * t) * T(kGeluC) * (T(1) + T(3 * 0.044715) * x * x);
}

template <UnaryOp OP, typename T>
__device__ inline T apply_unary(T x) {
  if constexpr (OP == UnaryOp::neg) return -x;
  if constexpr (OP == UnaryOp::exp) return fast_exp(x);
  if constexpr (OP == UnaryOp::log) return log_of(x);
  if constexpr (OP == UnaryOp::tanh) return fast_tanh(x);
  if constexpr (OP == UnaryOp::relu) return x > T(0) ? x : T(0);
  if constexpr (OP == UnaryOp::gelu) return gelu(x);
  if constexpr (OP == UnaryOp::silu) return x * fast_sigmoid(x);
  if constexpr (OP == UnaryOp::sigmoid) return fast_sigmoid(x);
  if constexpr (OP == UnaryOp::sqrt) return sqrt_of(x);
  if constexpr (OP == UnaryOp::square) return x * x;
  if constexpr (OP == UnaryOp::abs) return abs_of(x);
}

// f'(x), from x or y = f(x), exactly as the CPU picks.
template <UnaryOp OP, typename T>
__device__ inline T unary_derivative(T x, T y) {
  if constexpr (OP == UnaryOp::neg) return T(-1);
  if constexpr (OP == UnaryOp::exp) return y;
  if constexpr (OP == UnaryOp::log) return T(1) / x;
  if constexpr (OP == UnaryOp::tanh) return T(1) - y * y;
  if constexpr (OP == UnaryOp::relu) return x > T(0) ? T(1) : T(0);
  if constexpr (OP == UnaryOp::gelu) return gelu_grad(x);
  if constexpr (OP == UnaryOp::silu) {
    const T s = fast_sigmoid(x);
    return s * (T(1) + x * (T(1) - s));
  }
  if constexpr (OP == UnaryOp::sigmoid) return y * (T(1) - y);
  if constexpr (OP == UnaryOp::sqrt) return T(0.5) / y;
  if constexpr (OP == UnaryOp::square) return T(2) * x;
  if constexpr (OP == UnaryOp::abs) return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
}

}  // namespace octet::cuda::math
