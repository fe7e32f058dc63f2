// qat::fake_quant_fused and QuantLinear's autocast shortcut on the CPU: the bf16 output is the cast
// of the f32 one, the amax is range.h's, gradients stay f32 and masked, and a QuantLinear under
// autocast computes bit for bit what the unfused composition computes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "framework/autocast.h"
#include "framework/functional/arithmetic.h"
#include "framework/functional/linear.h"
#include "framework/random.h"
#include "ops/quant/range.h"
#include "qat/fake_quant.h"
#include "tests/support/fused_quant_linear.h"

namespace octet {
namespace {

using quant::QuantSpec;

qat::QParams one_scale(float s) { return {Tensor::from_vector<float>({s}, {1}), Tensor()}; }

TEST(FakeQuantFused, Bf16OutputIsTheCastAndAmaxIsTheTensorsAbsMax) {
  Generator gen(3);
  Tensor x0 = Tensor::randn({7, 33}, gen) * 5.0;
  std::vector<float> v = x0.to_vector<float>();
  v[4] = std::numeric_limits<float>::infinity();
  v[9] = -1e30f;
  x0 = Tensor::from_vector(v, {7, 33});
  for (const QuantSpec& spec : {QuantSpec::fp8_e4m3(), QuantSpec::fp8_e5m2(),
                                QuantSpec::int8_symmetric(), QuantSpec::int4_symmetric()}) {
    SCOPED_TRACE(spec.str());
    const qat::QParams p = one_scale(spec.is_fp8() ? 30.0f : 0.05f);
    Tensor xa = x0.clone().set_requires_grad(), xb = x0.clone().set_requires_grad();
    const Tensor plain = qat::fake_quant(xa, spec, p);
    const qat::FakeQuantResult fused =
        qat::fake_quant_fused(xb, spec, p, qat::Ste::kClipped, {DType::bf16, true});
    EXPECT_EQ(fused.y.dtype(), DType::bf16);
    EXPECT_EQ(testing::differing_bits(fused.y, plain.to(DType::bf16)), 0);
    float want_amax = 0.0f;
    quant::abs_max(v.data(), static_cast<int64_t>(v.size()), quant::scale_layout(spec, x0.shape()),
                   &want_amax);
    EXPECT_EQ(fused.amax.to_vector<float>(), std::vector<float>{want_amax});
    // The gradient arrives in f32 (as autocast's linear hands it back) and leaves in f32, masked
    // where x clipped.
    const Tensor up = Tensor::randn({7, 33}, gen);
    plain.backward(up);
    fused.y.backward(up);
    EXPECT_EQ(xb.grad().dtype(), DType::f32);
    EXPECT_EQ(testing::differing_bits(xb.grad(), xa.grad()), 0);
  }
}

TEST(FakeQuantFused, RefusesWhatItCannotFuse) {
  Generator gen(4);
  const Tensor x = Tensor::randn({4, 8}, gen);
  const QuantSpec per_channel = QuantSpec::int8_symmetric().per_channel(0);
  const qat::QParams p{Tensor::full({4}, 0.1), Tensor()};
  EXPECT_THROW(qat::fake_quant_fused(x, per_channel, p, qat::Ste::kClipped, {std::nullopt, true}),
               Error);
  EXPECT_THROW(qat::fake_quant_fused(x.to(DType::f64), QuantSpec::int8_symmetric(), one_scale(0.1f),
                                     qat::Ste::kClipped, {DType::bf16, false}),
               Error);
}

TEST(AutocastLinear, TakesBf16OperandsOnlyUnderAutocast) {
  Generator gen(5);
  const Tensor x = Tensor::randn({3, 16}, gen), w = Tensor::randn({8, 16}, gen);
  EXPECT_THROW(linear(x.to(DType::bf16), w), Error);
  AutocastGuard guard(DType::bf16);
  // A bf16 operand is what the GEMM would have taken anyway: the same bits as the f32 call.
  EXPECT_EQ(testing::differing_bits(linear(x.to(DType::bf16), w), linear(x, w)), 0);
  EXPECT_EQ(linear(x, w.to(DType::bf16)).dtype(), DType::f32);
}

TEST(FusedQuantLinear, MatchesTheUnfusedCompositionOnTheCpu) {
  for (const char* scheme : {"fp8_e4m3", "w8a8", "w8a8_dyn", "w4a8"})
    testing::expect_fused_quant_linear_matches_unfused(scheme, Device{});
}

}  // namespace
}  // namespace octet
