// Fake-quant ops: forward values bit-equal to PyTorch's arithmetic written out here in scalar
// code, straight-through masks, and LSQ gradients against central finite differences (f64) of
// the surrogate that LSQ differentiates: with r = nearbyint(x0/s0) - x0/s0 frozen at the point,
//   f(x, s, z) = sum_i dy_i * s * (clamp(x_i/s + r_i + z, qmin, qmax) - z)
// whose exact derivatives are the STE/LSQ rules (dx: 1 in range; ds: r in range, qmin-z or qmax-z
// outside; dz: 0 in range, -s outside). Inputs stay away from the clamp kinks (q == qmin or qmax).
#include "ops/quant/fake_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "framework/random.h"
#include "qat/fake_quant.h"

namespace octet {
namespace {

using quant::QuantSpec;

// PyTorch's fake_quantize_per_{tensor,channel}_affine for one element, in its own arithmetic.
float torch_fake_quant(float x, float scale, int64_t zp, int64_t qmin, int64_t qmax,
                       bool* in_range) {
  const float inv_scale = 1.0f / scale;
  const int64_t q = zp + static_cast<int64_t>(std::nearbyint(x * inv_scale));
  *in_range = qmin <= q && q <= qmax;
  return static_cast<float>((std::fmin(std::fmax(q, qmin), qmax) - zp) * scale);
}

Tensor random_f32(const Shape& shape, Generator& gen, double scale) {
  return Tensor::randn(shape, gen, DType::f32, scale);
}

void expect_matches_torch(const Tensor& x, const QuantSpec& spec, const qat::QParams& p) {
  Tensor xin = x.detach().clone().set_requires_grad();
  Tensor y = qat::fake_quant(xin, spec, p);
  Tensor dy = Tensor::ones(x.shape());
  y.backward(dy);
  const quant::ScaleLayout layout = quant::scale_layout(spec, x.shape());
  const std::vector<float> xv = x.to_vector<float>(), yv = y.to_vector<float>();
  const std::vector<float> gv = xin.grad().to_vector<float>();
  const std::vector<float> sv = p.scale.to_vector<float>();
  std::vector<float> zv(sv.size(), 0.0f);
  if (p.zero_point.defined()) zv = p.zero_point.to_vector<float>();
  int64_t clipped = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    const int64_t c = (static_cast<int64_t>(i) / layout.inner) % layout.count;
    bool in_range = false;
    const float want = torch_fake_quant(xv[i], sv[c], static_cast<int64_t>(zv[c]), spec.qmin,
                                        spec.qmax, &in_range);
    ASSERT_EQ(yv[i], want) << spec.str() << " element " << i << " x=" << xv[i];
    ASSERT_EQ(gv[i], in_range ? 1.0f : 0.0f) << spec.str() << " mask at element " << i;
    clipped += !in_range;
  }
  EXPECT_GT(clipped, 0) << "the inputs should exercise clipping";
}

TEST(FakeQuant, PerTensorSymmetricMatchesTorchArithmetic) {
  Generator gen(1);
  Tensor x = random_f32({37, 129}, gen, 3.0);
  QuantSpec spec = QuantSpec::int8_symmetric();
  expect_matches_torch(x, spec, {Tensor::from_vector<float>({0.02f}, {1}), Tensor()});
  expect_matches_torch(x, QuantSpec::int4_symmetric(),
                       {Tensor::from_vector<float>({0.3f}, {1}), Tensor()});
}

TEST(FakeQuant, AffineWithZeroPointMatchesTorchArithmetic) {
  Generator gen(2);
  Tensor x = random_f32({300, 70}, gen, 1.0);
  expect_matches_torch(
      x, QuantSpec::uint8_affine(),
      {Tensor::from_vector<float>({0.01f}, {1}), Tensor::from_vector<float>({100.0f}, {1})});
  expect_matches_torch(
      x, QuantSpec::int8_affine(),
      {Tensor::from_vector<float>({0.013f}, {1}), Tensor::from_vector<float>({-20.0f}, {1})});
}

TEST(FakeQuant, PerChannelTokenAndGroupLayouts) {
  Generator gen(3);
  Tensor w = random_f32({6, 5, 9}, gen, 2.0);
  std::vector<float> s6 = {0.01f, 0.02f, 0.005f, 0.03f, 0.015f, 0.008f};
  expect_matches_torch(w, QuantSpec::int8_symmetric().per_channel(0),
                       {Tensor::from_vector<float>(s6, {6}), Tensor()});
  std::vector<float> s5 = {0.01f, 0.02f, 0.005f, 0.03f, 0.015f};
  expect_matches_torch(w, QuantSpec::int8_symmetric().per_channel(1),
                       {Tensor::from_vector<float>(s5, {5}), Tensor()});
  Tensor per_token = Tensor::rand({6, 5}, gen, DType::f32, 0.004, 0.03);
  expect_matches_torch(w, QuantSpec::int8_symmetric().per_token(), {per_token, Tensor()});
  Tensor x = random_f32({4, 64}, gen, 2.0);
  Tensor per_group = Tensor::rand({4, 2}, gen, DType::f32, 0.004, 0.03);
  expect_matches_torch(x, QuantSpec::int4_symmetric().per_group(32), {per_group, Tensor()});
}

TEST(FakeQuant, LargeTensorUsesEveryThreadAndStaysExact) {
  Generator gen(4);
  Tensor x = random_f32({1024, 1000}, gen, 1.0);  // > one parallel chunk, runs straddle chunks
  Tensor s = Tensor::rand({1000}, gen, DType::f32, 0.002, 0.02);
  expect_matches_torch(x, QuantSpec::int8_symmetric().per_channel(1), {s, Tensor()});
}

TEST(FakeQuant, IdentitySteCarriesEveryGradient) {
  Generator gen(5);
  Tensor x = random_f32({50}, gen, 10.0).set_requires_grad();
  Tensor y =
      qat::fake_quant(x, QuantSpec::int8_symmetric(),
                      {Tensor::from_vector<float>({0.01f}, {1}), Tensor()}, qat::Ste::kIdentity);
  y.backward(Tensor::ones({50}));
  for (float g : x.grad().to_vector<float>()) EXPECT_EQ(g, 1.0f);
}

TEST(FakeQuant, RejectsParametersThatDoNotFit) {
  Tensor x = Tensor::zeros({4, 8});
  auto fq = [&](const QuantSpec& spec, const qat::QParams& p) { qat::fake_quant(x, spec, p); };
  EXPECT_THROW(fq(QuantSpec::int8_symmetric().per_channel(0), {Tensor::ones({8}), Tensor()}),
               Error);  // 8 scales for 4 channels
  EXPECT_THROW(fq(QuantSpec::uint8_affine(), {Tensor::ones({1}), Tensor()}), Error);
  EXPECT_THROW(fq(QuantSpec::int8_symmetric().per_group(3), {Tensor::ones({8}), Tensor()}), Error);
  try {
    fq(QuantSpec::int8_symmetric().per_channel(2), {Tensor::ones({1}), Tensor()});
    FAIL() << "axis 2 of a rank-2 tensor was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("axis 2"), std::string::npos) << e.what();
  }
}

// ---- LSQ gradients against finite differences of the STE surrogate (f64) ----

struct LsqCase {
  QuantSpec spec;
  Shape shape;
  std::vector<double> scales;
  std::vector<double> zero_points;  // empty for symmetric
};

// Draws x so that q = nearbyint(x/s)+z is never exactly qmin or qmax (the surrogate's kinks),
// with about a fifth of the elements outside the range.
Tensor lsq_input(const LsqCase& c, const quant::ScaleLayout& layout, Generator& gen) {
  Tensor x = Tensor::empty(c.shape, DType::f64);
  double* p = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t ch = (i / layout.inner) % layout.count;
    const double s = c.scales[ch], z = c.zero_points.empty() ? 0.0 : c.zero_points[ch];
    double q;
    do {
      q = c.spec.qmin - 8 + gen.uniform() * (c.spec.qmax - c.spec.qmin + 16);
    } while (std::fabs(std::nearbyint(q) - c.spec.qmin) < 0.5 ||
             std::fabs(std::nearbyint(q) - c.spec.qmax) < 0.5 ||
             std::fabs(q - std::nearbyint(q)) > 0.45);  // keep clear of rounding ties too
    p[i] = (q - z) * s;
  }
  return x;
}

void check_lsq(const LsqCase& c) {
  Generator gen(7);
  const quant::ScaleLayout layout = quant::scale_layout(c.spec, c.shape);
  Tensor x = lsq_input(c, layout, gen).set_requires_grad();
  const Shape sshape = {static_cast<int64_t>(c.scales.size())};
  Tensor s = Tensor::from_vector(c.scales, sshape).set_requires_grad();
  Tensor z = c.zero_points.empty() ? Tensor()
                                   : Tensor::from_vector(c.zero_points, sshape).set_requires_grad();
  const double grad_factor = qat::lsq_grad_factor(x.numel(), c.spec.qmax);
  Tensor dy = Tensor::randn(c.shape, gen, DType::f64);
  qat::fake_quant_lsq(x, c.spec, s, z, grad_factor).backward(dy);

  const std::vector<double> x0 = x.to_vector<double>(), dyv = dy.to_vector<double>();
  std::vector<double> r(x0.size());
  for (size_t i = 0; i < x0.size(); ++i) {
    const double si = c.scales[(i / layout.inner) % layout.count];
    r[i] = std::nearbyint(x0[i] * (1.0 / si)) - x0[i] / si;
  }
  auto surrogate = [&](const std::vector<double>& xv, const std::vector<double>& sv,
                       const std::vector<double>& zv) {
    double f = 0;
    for (size_t i = 0; i < xv.size(); ++i) {
      const int64_t ch = (static_cast<int64_t>(i) / layout.inner) % layout.count;
      const double zc = zv.empty() ? 0.0 : zv[ch];
      const double v =
          std::clamp(xv[i] / sv[ch] + r[i] + zc, double(c.spec.qmin), double(c.spec.qmax));
      f += dyv[i] * sv[ch] * (v - zc);
    }
    return f;
  };
  const double h = 1e-7;
  const std::vector<double> dx = x.grad().to_vector<double>(), ds = s.grad().to_vector<double>();
  for (size_t k = 0; k < x0.size(); ++k) {
    std::vector<double> xp = x0, xm = x0;
    xp[k] += h;
    xm[k] -= h;
    const double fd =
        (surrogate(xp, c.scales, c.zero_points) - surrogate(xm, c.scales, c.zero_points)) / (2 * h);
    ASSERT_NEAR(dx[k], fd, 1e-6) << c.spec.str() << " dx at " << k;
  }
  for (size_t k = 0; k < c.scales.size(); ++k) {
    std::vector<double> sp = c.scales, sm = c.scales;
    sp[k] += h * c.scales[k];
    sm[k] -= h * c.scales[k];
    const double fd = (surrogate(x0, sp, c.zero_points) - surrogate(x0, sm, c.zero_points)) /
                      (2 * h * c.scales[k]);
    EXPECT_NEAR(ds[k], fd * grad_factor, 1e-6 * std::max(1.0, std::fabs(fd * grad_factor)))
        << c.spec.str() << " dscale at " << k;
  }
  if (!c.zero_points.empty()) {
    const std::vector<double> dz = z.grad().to_vector<double>();
    for (size_t k = 0; k < c.zero_points.size(); ++k) {
      // The zero point enters rounded, so its finite difference is taken on the surrogate only.
      std::vector<double> zp = c.zero_points, zm = c.zero_points;
      zp[k] += h;
      zm[k] -= h;
      const double fd = (surrogate(x0, c.scales, zp) - surrogate(x0, c.scales, zm)) / (2 * h);
      EXPECT_NEAR(dz[k], fd * grad_factor, 1e-6 * std::max(1.0, std::fabs(fd * grad_factor)))
          << c.spec.str() << " dzero_point at " << k;
    }
  }
}

TEST(LsqGradients, PerTensorSymmetric) {
  check_lsq({QuantSpec::int8_symmetric(), {7, 11}, {0.05}, {}});
  check_lsq({QuantSpec::int4_symmetric(), {3, 40}, {0.2}, {}});
}

TEST(LsqGradients, PerTensorAffine) {
  check_lsq({QuantSpec::uint8_affine(), {5, 13}, {0.03}, {97}});
}

TEST(LsqGradients, PerChannelSymmetricAndAffine) {
  check_lsq({QuantSpec::int8_symmetric().per_channel(0), {4, 9}, {0.01, 0.2, 0.05, 0.7}, {}});
  check_lsq({QuantSpec::int8_affine().per_channel(1), {3, 2, 5}, {0.04, 0.3}, {-9, 17}});
}

TEST(LsqGradients, ForwardEqualsFixedScaleFakeQuant) {
  Generator gen(9);
  Tensor x = Tensor::randn({8, 16}, gen, DType::f32, 2.0);
  Tensor s = Tensor::from_vector<float>({0.03f}, {1});
  Tensor a = qat::fake_quant_lsq(x, QuantSpec::int8_symmetric(), s, Tensor(), 1.0);
  Tensor b = qat::fake_quant(x, QuantSpec::int8_symmetric(), {s, Tensor()});
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
}

// ---- FP8 fake-quant ----

TEST(Fp8FakeQuant, EqualsCodecRoundTripWithSaturationMask) {
  Generator gen(11);
  Tensor x = random_f32({64, 33}, gen, 4.0).set_requires_grad();
  for (const QuantSpec& spec : {QuantSpec::fp8_e4m3(), QuantSpec::fp8_e5m2()}) {
    const quant::Fp8Format fmt = quant::fp8_format_of(spec.format);
    // amax 6 maps to the format's max, so the tail beyond |x| = 6 saturates.
    const float scale = static_cast<float>(quant::fp8_max(fmt) / 6.0);
    x.zero_grad();
    Tensor y = qat::fake_quant(x, spec, {Tensor::from_vector<float>({scale}, {1}), Tensor()});
    y.backward(Tensor::ones(x.shape()));
    const std::vector<float> xv = x.to_vector<float>(), yv = y.to_vector<float>();
    const std::vector<float> gv = x.grad().to_vector<float>();
    int64_t saturated = 0;
    for (size_t i = 0; i < xv.size(); ++i) {
      const float want =
          quant::fp8_decode(quant::fp8_encode(xv[i] * scale, fmt, true), fmt) * (1.0f / scale);
      ASSERT_EQ(yv[i], want) << spec.str() << " x=" << xv[i];
      const bool passes = std::fabs(xv[i] * scale) <= quant::fp8_max(fmt);
      ASSERT_EQ(gv[i], passes ? 1.0f : 0.0f) << spec.str() << " x=" << xv[i];
      saturated += !passes;
    }
    EXPECT_GT(saturated, 0);
  }
}

}  // namespace
}  // namespace octet
