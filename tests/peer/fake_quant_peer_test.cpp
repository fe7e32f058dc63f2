// octet's fake-quant ops against PyTorch's on the same random inputs:
// - fake_quantize_per_tensor_affine / _per_channel_affine: forward values and the straight-through
//   mask (the input gradient under a random upstream gradient) must be bit-identical. octet
//   computes 1/s once per scale in float and multiplies, like PyTorch, so no element may differ.
// - LSQ (_fake_quantize_learnable_per_{tensor,channel}_affine with LSQ's grad_factor): forward and
//   input gradient bit-identical; scale and zero-point gradients within 1e-6 * max(1, |torch|)
//   (both sum per-element terms, PyTorch in float with its own order, octet in double).
// Without the peer venv every test is skipped with the reason.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "qat/fake_quant.h"
#include "tests/support/peer_python.h"

namespace octet {
namespace {

using quant::QuantSpec;
using testing::PeerCase;
using testing::PeerInput;

struct FqCase {
  std::string name;
  std::string op;  // fq_tensor, fq_channel, lsq_tensor, lsq_channel
  QuantSpec spec;
  Tensor x, scale, zero_point, grad_out;
};

std::vector<FqCase> build_cases() {
  Generator gen(20261123);
  std::vector<FqCase> cases;
  auto add = [&](const std::string& name, const std::string& op, const QuantSpec& spec,
                 const Shape& shape, double x_scale, Tensor scale, Tensor zp) {
    cases.push_back({name, op, spec, Tensor::randn(shape, gen, DType::f32, x_scale), scale, zp,
                     Tensor::randn(shape, gen, DType::f32)});
  };
  auto scalar = [](float v) { return Tensor::from_vector<float>({v}, {1}); };
  auto rand = [&](int64_t n, double lo, double hi) {
    return Tensor::rand({n}, gen, DType::f32, lo, hi);
  };
  auto zero_points = [&](int64_t n, int lo, int hi) {
    std::vector<float> v(n);
    for (float& z : v) z = static_cast<float>(lo + static_cast<int>(gen.below(hi - lo + 1)));
    return Tensor::from_vector(v, {n});
  };
  const QuantSpec sym = QuantSpec::int8_symmetric(), full = QuantSpec::int8_symmetric(false);
  add("fq_tensor_sym", "fq_tensor", sym, {64, 96}, 2.0, scalar(0.0123f), scalar(0));
  add("fq_tensor_full", "fq_tensor", full, {33, 17}, 1.0, scalar(0.007f), scalar(0));
  add("fq_tensor_u8", "fq_tensor", QuantSpec::uint8_affine(), {50, 40}, 1.0, scalar(0.011f),
      scalar(123));
  add("fq_tensor_int4", "fq_tensor", QuantSpec::int4_symmetric(), {20, 31}, 1.0, scalar(0.21f),
      scalar(0));
  add("fq_channel_w", "fq_channel", sym.per_channel(0), {24, 80}, 0.5, rand(24, 0.001, 0.01),
      zero_points(24, 0, 0));
  add("fq_channel_act", "fq_channel", QuantSpec::int8_affine().per_channel(1), {4, 6, 5, 5}, 1.5,
      rand(6, 0.005, 0.02), zero_points(6, -30, 30));
  add("lsq_tensor_sym", "lsq_tensor", sym, {48, 64}, 1.0, scalar(0.009f), scalar(0));
  add("lsq_tensor_u8", "lsq_tensor", QuantSpec::uint8_affine(), {48, 64}, 1.0, scalar(0.006f),
      scalar(128));
  add("lsq_channel_sym", "lsq_channel", sym.per_channel(0), {16, 72}, 0.7, rand(16, 0.002, 0.008),
      zero_points(16, 0, 0));
  add("lsq_channel_affine", "lsq_channel", QuantSpec::int8_affine().per_channel(1), {8, 12, 9}, 1.0,
      rand(12, 0.004, 0.012), zero_points(12, -20, 20));
  return cases;
}

double grad_factor_of(const FqCase& c) { return qat::lsq_grad_factor(c.x.numel(), c.spec.qmax); }

std::vector<PeerCase> peer_cases(const std::vector<FqCase>& cases) {
  std::vector<PeerCase> out;
  for (const FqCase& c : cases) {
    const bool lsq = c.op.rfind("lsq", 0) == 0;
    std::map<std::string, double> params = {{"qmin", double(c.spec.qmin)},
                                            {"qmax", double(c.spec.qmax)},
                                            {"axis", double(c.spec.axis)}};
    if (lsq) params["grad_factor"] = grad_factor_of(c);
    out.push_back({c.name,
                   c.op,
                   {{"x", c.x, true},
                    {"scale", c.scale, lsq},
                    {"zero_point", c.zero_point, lsq},
                    {"grad_out", c.grad_out, false}},
                   params});
  }
  return out;
}

class FakeQuantPeer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    namespace fs = std::filesystem;
    cases() = build_cases();
    const fs::path cache =
        fs::read_symlink("/proc/self/exe").parent_path() / "fake_quant_peer_cache";
    results() = testing::run_peer_script(
        fs::path(OCTET_SOURCE_DIR) / "tests/peer/fake_quant_peer.py", peer_cases(cases()), cache);
  }
  void SetUp() override {
    if (!results().skip_reason.empty()) GTEST_SKIP() << results().skip_reason;
    ASSERT_TRUE(results().failure.empty()) << results().failure;
  }
  static std::vector<FqCase>& cases() {
    static std::vector<FqCase> all;
    return all;
  }
  static testing::PeerResults& results() {
    static testing::PeerResults r;
    return r;
  }

  static std::vector<float> peer(const std::string& name, int64_t numel) {
    std::vector<float> v;
    std::string why;
    EXPECT_TRUE(testing::read_peer_f32(results().folder, name, numel, v, why)) << why;
    return v;
  }

  // Bit-identical, or a report of how many elements differ and the first of them.
  static void expect_identical(const Tensor& got, const std::string& name) {
    const std::vector<float> ref = peer(name, got.numel());
    const std::vector<float> v = got.contiguous().to_vector<float>();
    if (ref.size() != v.size()) return;
    int64_t differing = 0, first = -1;
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] != ref[i]) {
        if (first < 0) first = static_cast<int64_t>(i);
        ++differing;
      }
    }
    std::printf("[fake_quant peer] %-36s %lld of %zu elements differ\n", name.c_str(),
                static_cast<long long>(differing), v.size());
    EXPECT_EQ(differing, 0) << name << ": first at " << first << " octet " << v[first] << " torch "
                            << ref[first];
  }

  static void expect_close(const Tensor& got, const std::string& name) {
    const std::vector<float> ref = peer(name, got.numel());
    const std::vector<float> v = got.contiguous().to_vector<float>();
    double worst = 0;
    for (size_t i = 0; i < v.size() && i < ref.size(); ++i) {
      worst = std::max(worst,
                       std::fabs(double(v[i]) - ref[i]) / std::max(1.0, std::fabs(double(ref[i]))));
    }
    std::printf("[fake_quant peer] %-36s worst %.2e\n", name.c_str(), worst);
    EXPECT_LE(worst, 1e-6) << name;
  }

  static const FqCase& find(const std::string& name) {
    for (const FqCase& c : cases()) {
      if (c.name == name) return c;
    }
    throw std::runtime_error("no case " + name);
  }

  static void check_fixed(const std::string& name) {
    const FqCase& c = find(name);
    Tensor x = c.x.clone().set_requires_grad();
    qat::QParams p{c.scale, c.spec.symmetric ? Tensor() : c.zero_point};
    Tensor y = qat::fake_quant(x, c.spec, p);
    y.backward(c.grad_out);
    expect_identical(y, name + ".out");
    expect_identical(x.grad(), name + ".grad.x");
  }

  static void check_lsq(const std::string& name) {
    const FqCase& c = find(name);
    Tensor x = c.x.clone().set_requires_grad();
    Tensor s = c.scale.clone().set_requires_grad();
    Tensor z = c.spec.symmetric ? Tensor() : c.zero_point.clone().set_requires_grad();
    Tensor y = qat::fake_quant_lsq(x, c.spec, s, z, grad_factor_of(c));
    y.backward(c.grad_out);
    expect_identical(y, name + ".out");
    expect_identical(x.grad(), name + ".grad.x");
    expect_close(s.grad(), name + ".grad.scale");
    // PyTorch also differentiates a symmetric spec's (zero) zero point; octet has none to learn.
    if (z.defined()) expect_close(z.grad(), name + ".grad.zero_point");
  }
};

TEST_F(FakeQuantPeer, PerTensorSymmetricNarrow) { check_fixed("fq_tensor_sym"); }
TEST_F(FakeQuantPeer, PerTensorSymmetricFull) { check_fixed("fq_tensor_full"); }
TEST_F(FakeQuantPeer, PerTensorUint8Affine) { check_fixed("fq_tensor_u8"); }
TEST_F(FakeQuantPeer, PerTensorInt4) { check_fixed("fq_tensor_int4"); }
TEST_F(FakeQuantPeer, PerChannelWeights) { check_fixed("fq_channel_w"); }
TEST_F(FakeQuantPeer, PerChannelAffineActivations) { check_fixed("fq_channel_act"); }
TEST_F(FakeQuantPeer, LsqPerTensorSymmetric) { check_lsq("lsq_tensor_sym"); }
TEST_F(FakeQuantPeer, LsqPerTensorAffine) { check_lsq("lsq_tensor_u8"); }
TEST_F(FakeQuantPeer, LsqPerChannelSymmetric) { check_lsq("lsq_channel_sym"); }
TEST_F(FakeQuantPeer, LsqPerChannelAffine) { check_lsq("lsq_channel_affine"); }

}  // namespace
}  // namespace octet
