// The scale rules of ops/quant/scale_rules.h against their closed forms: PyTorch's observer
// arithmetic for integers (narrow/full symmetric, affine zero points, the eps floor) and
// Transformer Engine's FP8 scale with margin and keep-previous; and the range kernels that feed
// them (ops/quant/range.h) against a scalar reference on every layout shape.
#include "ops/quant/scale_rules.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>

#include "framework/random.h"
#include "ops/error.h"
#include "ops/quant/range.h"

namespace octet::quant {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

TEST(IntQParams, NarrowSymmetricDividesBy127) {
  const IntQParams p = int_qparams(QuantSpec::int8_symmetric(true), -2.0f, 1.0f);
  EXPECT_FLOAT_EQ(p.scale, 2.0f / 127.0f);
  EXPECT_EQ(p.zero_point, 0);
  // The larger side decides, whichever sign it has.
  EXPECT_FLOAT_EQ(int_qparams(QuantSpec::int8_symmetric(true), -0.5f, 3.0f).scale, 3.0f / 127.0f);
}

TEST(IntQParams, FullSymmetricDividesBy127AndAHalf) {
  const IntQParams p = int_qparams(QuantSpec::int8_symmetric(false), -2.0f, 1.0f);
  EXPECT_FLOAT_EQ(p.scale, 2.0f / 127.5f);
  EXPECT_EQ(p.zero_point, 0);
}

TEST(IntQParams, Int4SymmetricDividesBy7) {
  EXPECT_FLOAT_EQ(int_qparams(QuantSpec::int4_symmetric(), -0.7f, 0.35f).scale, 0.1f);
}

TEST(IntQParams, Int8AffineScaleAndZeroPoint) {
  // s = 4 / 255; -1 / s = -63.75 rounds to -64; zp = -128 + 64.
  const IntQParams p = int_qparams(QuantSpec::int8_affine(), -1.0f, 3.0f);
  EXPECT_FLOAT_EQ(p.scale, 4.0f / 255.0f);
  EXPECT_EQ(p.zero_point, -64);
}

TEST(IntQParams, Uint8AffineScaleAndZeroPoint) {
  const IntQParams p = int_qparams(QuantSpec::uint8_affine(), -1.0f, 3.0f);
  EXPECT_FLOAT_EQ(p.scale, 4.0f / 255.0f);
  EXPECT_EQ(p.zero_point, 64);
}

TEST(IntQParams, ZeroPointRoundsHalfToEven) {
  // s = 63.75 / 255 = 0.25 exactly and min / s = -2.5: half-to-even gives 2 (half away: 3).
  const IntQParams p = int_qparams(QuantSpec::uint8_affine(), -0.625f, 63.125f);
  EXPECT_EQ(p.scale, 0.25f);
  EXPECT_EQ(p.zero_point, 2);
  // min / s = -3.5 rounds to -4.
  EXPECT_EQ(int_qparams(QuantSpec::uint8_affine(), -0.875f, 62.875f).zero_point, 4);
}

TEST(IntQParams, RangeIsForcedToIncludeZero) {
  // All positive: the minimum becomes 0, so zp = qmin and s = max / 255.
  const IntQParams pos = int_qparams(QuantSpec::int8_affine(), 2.0f, 5.1f);
  EXPECT_FLOAT_EQ(pos.scale, 5.1f / 255.0f);
  EXPECT_EQ(pos.zero_point, -128);
  EXPECT_EQ(int_qparams(QuantSpec::uint8_affine(), 2.0f, 5.1f).zero_point, 0);
  // All negative: the maximum becomes 0, so zp = qmax.
  const IntQParams neg = int_qparams(QuantSpec::int8_affine(), -4.0f, -1.0f);
  EXPECT_FLOAT_EQ(neg.scale, 4.0f / 255.0f);
  EXPECT_EQ(neg.zero_point, 127);
  EXPECT_EQ(int_qparams(QuantSpec::uint8_affine(), -4.0f, -1.0f).zero_point, 255);
  // Symmetric: a positive-only range still spans [-max, max].
  EXPECT_FLOAT_EQ(int_qparams(QuantSpec::int8_symmetric(), 2.0f, 5.0f).scale, 5.0f / 127.0f);
}

TEST(IntQParams, ZeroPointStaysInsideTheCodeRange) {
  Generator gen(7);
  for (const QuantSpec& spec : {QuantSpec::int8_affine(), QuantSpec::uint8_affine()}) {
    for (int i = 0; i < 10000; ++i) {
      const float a =
          static_cast<float>((gen.uniform() - 0.5) * std::pow(10.0, gen.below(9) - 4.0));
      const float b =
          static_cast<float>((gen.uniform() - 0.5) * std::pow(10.0, gen.below(9) - 4.0));
      const IntQParams p = int_qparams(spec, std::min(a, b), std::max(a, b));
      ASSERT_GE(p.zero_point, spec.qmin) << a << " " << b;
      ASSERT_LE(p.zero_point, spec.qmax) << a << " " << b;
      // 0 is exactly representable: it quantizes to the zero point and back to 0.
      ASSERT_GE(p.scale, kMinScale);
    }
  }
}

TEST(IntQParams, ScaleIsFlooredAtEpsilon) {
  for (const QuantSpec& spec : {QuantSpec::int8_symmetric(), QuantSpec::int8_symmetric(false),
                                QuantSpec::int8_affine(), QuantSpec::uint8_affine()}) {
    const IntQParams zero = int_qparams(spec, 0.0f, 0.0f);
    EXPECT_EQ(zero.scale, kMinScale) << spec.str();
    EXPECT_EQ(zero.zero_point, spec.symmetric ? 0 : spec.qmin) << spec.str();
    EXPECT_EQ(int_qparams(spec, -1e-10f, 1e-10f).scale, kMinScale) << spec.str();
  }
  EXPECT_EQ(kMinScale, std::numeric_limits<float>::epsilon());
}

TEST(IntQParams, NonFiniteOrInvertedStatisticsThrowNamingTheCaller) {
  const QuantSpec spec = QuantSpec::int8_affine();
  for (auto [lo, hi] : {std::pair{kNaN, 1.0f}, {-1.0f, kNaN}, {-kInf, 1.0f}, {-1.0f, kInf}}) {
    try {
      int_qparams(spec, lo, hi, "my_observer");
      FAIL() << "no throw for [" << lo << ", " << hi << "]";
    } catch (const Error& e) {
      EXPECT_EQ(e.op(), "my_observer");
      EXPECT_NE(std::string(e.what()).find("not finite"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(int_qparams(spec, 2.0f, 1.0f), Error);
  EXPECT_THROW(int_qparams(QuantSpec::fp8_e4m3(), -1.0f, 1.0f), Error);
}

TEST(Fp8Scale, IsFormatMaxOverAmax) {
  EXPECT_FLOAT_EQ(fp8_scale(QuantSpec::fp8_e4m3(), 2.0f, 1.0f), 224.0f);
  EXPECT_FLOAT_EQ(fp8_scale(QuantSpec::fp8_e4m3(), 448.0f, 5.0f), 1.0f);
  EXPECT_FLOAT_EQ(fp8_scale(QuantSpec::fp8_e4m3(), 0.1f, 1.0f), 448.0f / 0.1f);
  EXPECT_FLOAT_EQ(fp8_scale(QuantSpec::fp8_e5m2(), 2.0f, 1.0f), 28672.0f);
}

TEST(Fp8Scale, MarginDividesByPowersOfTwo) {
  const QuantSpec spec = QuantSpec::fp8_e4m3();
  EXPECT_FLOAT_EQ(fp8_scale(spec, 2.0f, 1.0f, 1), 112.0f);
  EXPECT_FLOAT_EQ(fp8_scale(spec, 2.0f, 1.0f, 3), 28.0f);
  EXPECT_FLOAT_EQ(fp8_scale(spec, 2.0f, 1.0f, -1), 448.0f);
}

TEST(Fp8Scale, KeepsThePreviousScaleWhenAmaxIsUnusable) {
  for (const QuantSpec& spec : {QuantSpec::fp8_e4m3(), QuantSpec::fp8_e5m2()}) {
    for (float amax : {0.0f, -0.0f, kInf, kNaN, -1.0f}) {
      EXPECT_EQ(fp8_scale(spec, amax, 3.5f), 3.5f) << spec.str() << " amax " << amax;
      EXPECT_EQ(fp8_scale(spec, amax, 3.5f, 2), 3.5f) << spec.str() << " amax " << amax;
    }
  }
}

TEST(Fp8Scale, KeepsThePreviousScaleWhenASubnormalAmaxOverflowsIt) {
  const QuantSpec spec = QuantSpec::fp8_e4m3();
  const float subnormal = std::numeric_limits<float>::denorm_min() * 1000.0f;
  ASSERT_LT(subnormal, std::numeric_limits<float>::min());
  EXPECT_EQ(fp8_scale(spec, subnormal, 2.0f), 2.0f);
  // A small normal amax whose scale still fits is used.
  EXPECT_FLOAT_EQ(fp8_scale(spec, 1e-30f, 2.0f), 448.0f / 1e-30f);
  EXPECT_THROW(fp8_scale(QuantSpec::int8_symmetric(), 1.0f, 1.0f), Error);
}

// ---- the range kernels the rules are fed from (ops/quant/range.h) ----------------------------

// Element i belongs to scale (i / inner) % count; NaN wins.
void reference_range(const std::vector<float>& x, const ScaleLayout& l, std::vector<float>& lo,
                     std::vector<float>& hi, std::vector<float>& amax) {
  lo.assign(l.count, kInf);
  hi.assign(l.count, -kInf);
  amax.assign(l.count, 0.0f);
  for (size_t i = 0; i < x.size(); ++i) {
    const int64_t c = static_cast<int64_t>(i) / l.inner % l.count;
    const float v = x[i];
    const bool nan = std::isnan(v) || std::isnan(lo[c]);
    lo[c] = nan ? kNaN : std::min(lo[c], v);
    hi[c] = nan ? kNaN : std::max(hi[c], v);
    amax[c] = nan ? kNaN : std::max(amax[c], std::fabs(v));
  }
}

TEST(RangeKernels, MatchTheReferenceOnEveryLayoutShape) {
  Generator gen(3);
  // (inner, count, rows): per tensor, channel runs long and short, trailing-axis channels,
  // per-group, sizes around the vector width and the threading threshold.
  const std::vector<std::array<int64_t, 3>> cases = {
      {1, 1, 1}, {7, 1, 1},     {100003, 1, 1}, {33, 5, 1},    {64, 256, 1}, {1, 768, 100},
      {3, 5, 7}, {5, 40, 1000}, {8, 20000, 1},  {1, 20000, 4}, {300, 3, 80}, {16, 9, 2}};
  for (const auto& [inner, count, rows] : cases) {
    std::vector<float> x(static_cast<size_t>(inner * count * rows));
    for (float& v : x) v = static_cast<float>(2.0 * gen.uniform() - 1.0);
    if (x.size() > 10) x[x.size() / 3] = -kInf;  // infinities are ordinary values
    const ScaleLayout layout{inner, count, {count}};
    std::vector<float> lo(count), hi(count), amax(count), rlo, rhi, ramax;
    min_max(x.data(), x.size(), layout, lo.data(), hi.data());
    abs_max(x.data(), x.size(), layout, amax.data());
    reference_range(x, layout, rlo, rhi, ramax);
    ASSERT_EQ(lo, rlo) << inner << "x" << count << "x" << rows;
    ASSERT_EQ(hi, rhi) << inner << "x" << count << "x" << rows;
    ASSERT_EQ(amax, ramax) << inner << "x" << count << "x" << rows;
  }
}

TEST(RangeKernels, NanPoisonsOnlyItsOwnScale) {
  for (const auto& [inner, count, rows] :
       std::vector<std::array<int64_t, 3>>{{1000, 4, 30}, {1, 4, 30000}, {2, 3, 5}}) {
    std::vector<float> x(inner * count * rows, 0.5f);
    x[(rows / 2) * inner * count + 2 * inner] = kNaN;  // scale 2 only
    const ScaleLayout layout{inner, count, {count}};
    std::vector<float> lo(count), hi(count), amax(count);
    min_max(x.data(), x.size(), layout, lo.data(), hi.data());
    abs_max(x.data(), x.size(), layout, amax.data());
    for (int64_t c = 0; c < count; ++c) {
      EXPECT_EQ(std::isnan(lo[c]), c == 2) << inner << " " << c;
      EXPECT_EQ(std::isnan(hi[c]), c == 2) << inner << " " << c;
      EXPECT_EQ(std::isnan(amax[c]), c == 2) << inner << " " << c;
    }
  }
}

TEST(RangeKernels, EmptyInputAndMisfitLengths) {
  float lo = 0, hi = 0, amax = 1;
  min_max(nullptr, 0, {0, 1, {}}, &lo, &hi);
  abs_max(nullptr, 0, {0, 1, {}}, &amax);
  EXPECT_EQ(lo, kInf);
  EXPECT_EQ(hi, -kInf);
  EXPECT_EQ(amax, 0.0f);
  std::vector<float> x(10, 1.0f), out(3);
  EXPECT_THROW(abs_max(x.data(), 10, {1, 3, {3}}, out.data()), Error);
}

}  // namespace
}  // namespace octet::quant
