#pragma once
// Branch-free, call-free float exp/tanh/sigmoid that the compiler vectorises inside elementwise
// loops (libm's expf/tanhf are scalar calls: they were 27% of a GPT training step). Doubles keep
// libm: f64 exists for gradcheck, where exactness matters more than speed.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace octet::cpu {

// e^x with a relative error below 3e-7 on [-87, 88] (Cody-Waite reduction by ln 2, degree-6
// polynomial on [-ln2/2, ln2/2]); saturates to 0 / 2^127 outside.
inline float fast_exp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = std::fma(n, -0.693359375f, x);
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p * r, r, r) + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

// tanh with an absolute error below 2e-7: an odd Taylor polynomial near 0, where
// 1 - 2 / (e^2x + 1) would cancel, and the exp form elsewhere.
inline float fast_tanh(float x) {
  const float a = std::abs(x);
  const float e = fast_exp(2.0f * a);
  const float big = 1.0f - 2.0f / (e + 1.0f);
  const float x2 = a * a;
  const float small = a * (1.0f + x2 * (-0.333333333f + x2 * (0.133333333f + x2 * -0.053968254f)));
  const float t = a < 0.125f ? small : big;
  return std::copysign(t, x);
}

inline float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

// The same names for double, through libm.
inline double fast_exp(double x) { return std::exp(x); }
inline double fast_tanh(double x) { return std::tanh(x); }
inline double fast_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace octet::cpu
