#pragma once
// Branch-free, call-free float exp/tanh/sigmoid that the compiler vectorises inside kernel loops
// (libm's expf/tanhf are scalar calls: they were 27% of a GPT training step). Doubles keep
// libm: f64 exists for gradcheck, where exactness matters more than speed.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace octet::cpu {

// e^x = 2^n * e^r, n = round(x / ln 2), |r| <= ln(2)/2, with a degree-7 Taylor polynomial for
// e^r (relative error below 3e-7 on [-87, 88]). Results below FLT_MIN (n < -126), and -inf (a
// masked logit), give exactly 0; NaN stays NaN; x > 88 saturates at e^88. The flush is an integer
// mask rather than a float select so the loop stays branch-free.
inline float fast_exp(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693145751953125f;  // few mantissa bits: n * kLn2Hi is exact
  constexpr float kLn2Lo = 1.42860682030941723e-6f;
  constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  x = std::min(x, 88.0f);                     // keeps NaN (the comparison is false)
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
  // Very negative, -inf or NaN x: n is clamped before the conversion (NaN compares false), and
  // the mask then flushes to 0 or keeps the NaN that p carries.
  const int32_t ni = static_cast<int32_t>(n > -127.0f ? n : -127.0f);
  const float e = p * std::bit_cast<float>((ni + 127) << 23);
  // (A bool-to-int conversion here would stop GCC 12 from vectorising the caller's loop.)
  const int32_t keep = (ni >= -126) || (x != x) ? -1 : 0;
  return std::bit_cast<float>(std::bit_cast<int32_t>(e) & keep);
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
