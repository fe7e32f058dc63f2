// The QAT flow on real models: prepare swaps the right layers in place and keeps the weights'
// identity, the twins compute linear(fake_quant(x), fake_quant(W)), the schedule switches
// fake-quant and observers, calibrate then convert yields codes whose dequantized values are the
// fake-quant weights bit for bit, and quantizer state survives a save/load by name.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "framework/functional/arithmetic.h"
#include "framework/functional/linear.h"
#include "framework/models/cnn.h"
#include "framework/models/gpt.h"
#include "qat/convert.h"
#include "qat/prepare.h"
#include "qat/schemes.h"

namespace octet {
namespace {

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

float max_abs(const Tensor& t) {
  float m = 0;
  for (float v : t.to_vector<float>()) m = std::max(m, std::fabs(v));
  return m;
}

TEST(QatPrepare, SwapsLinearsAndConvsButNotSkippedOnesAndKeepsWeights) {
  Generator gen(1);
  models::GptConfig c;
  c.layers = 2;
  c.dim = 32;
  c.heads = 2;
  c.block = 16;
  models::Gpt gpt(c, gen);
  const Tensor qkv_before = gpt.parameter("blocks.0.attn.qkv.weight");
  const std::vector<std::string> swapped = qat::prepare(gpt, {});
  EXPECT_EQ(swapped.size(), 8u);  // qkv, proj, fc, proj per block
  EXPECT_TRUE(has(swapped, "blocks.1.fc"));
  EXPECT_FALSE(has(swapped, "lm_head"));
  EXPECT_TRUE(gpt.parameter("blocks.0.attn.qkv.weight").same(qkv_before))
      << "the twin must adopt the weight tensor, not copy it";
  EXPECT_EQ(gpt.child("lm_head")->type_name(), "Linear");
  EXPECT_THROW(qat::prepare(gpt, {}), Error);

  Generator g2(2);
  models::Cnn cnn({}, g2);
  EXPECT_EQ(qat::prepare(cnn, {}), (std::vector<std::string>{"conv1", "conv2", "fc1", "fc2"}));
  EXPECT_EQ(cnn.child("conv1")->type_name(), "QuantConv2d");
}

TEST(QatPrepare, TwinComputesLinearOfFakeQuantizedOperands) {
  Generator gen(3);
  auto lin = std::make_shared<nn::Linear>(16, 8, true, gen);
  qat::LayerQuantConfig cfg = qat::scheme_config("w8a8");
  qat::QuantLinear twin(*lin, cfg);
  Tensor x = Tensor::randn({5, 16}, gen);
  Tensor y = twin.forward(x);
  // The observer has seen x once, so its qparams are x's min-max.
  const qat::QParams in = twin.input_fake_quant().qparams(x);
  const qat::QParams w = twin.weight_fake_quant().qparams(lin->weight());
  Tensor want = linear(qat::fake_quant(x, cfg.input.spec, in),
                       qat::fake_quant(lin->weight(), cfg.weight.spec, w), lin->bias());
  EXPECT_EQ(y.to_vector<float>(), want.to_vector<float>());
}

TEST(QatSchedule, WarmupRunsFullPrecisionAndFreezeStopsObserving) {
  Generator gen(4);
  auto lin = std::make_shared<nn::Linear>(8, 4, false, gen);
  qat::QuantLinear twin(*lin, qat::scheme_config("w8a8"));
  Tensor x = Tensor::randn({3, 8}, gen);
  qat::QatSchedule schedule{2, 3};
  schedule.apply(twin, 0);
  EXPECT_EQ(twin.forward(x).to_vector<float>(), lin->forward(x).to_vector<float>());
  schedule.apply(twin, 2);
  EXPECT_NE(twin.forward(x).to_vector<float>(), lin->forward(x).to_vector<float>());
  schedule.apply(twin, 3);
  const qat::QParams frozen = twin.input_fake_quant().qparams(x);
  twin.forward(mul(x, 10.0));
  EXPECT_EQ(twin.input_fake_quant().qparams(x).scale.to_vector<float>(),
            frozen.scale.to_vector<float>());
}

TEST(QatFp8, DelayedScalingQuantizesWithThePreviousAmax) {
  qat::FakeQuantizer fq(qat::scheme_config("fp8_e4m3").input, 1);
  Generator gen(8);
  Tensor x = Tensor::rand({64}, gen, DType::f32, -1.0, 1.0);
  x.data<float>()[0] = 1.0f;  // amax 1: the first tensor is observed before it is quantized
  EXPECT_LE(max_abs(fq.forward(x)), 1.0f);
  // Four times larger: quantized with the scale of amax 1, so everything beyond 1 saturates.
  EXPECT_EQ(max_abs(fq.forward(mul(x, 4.0))), 1.0f);
  // Now the history holds 4: nothing saturates.
  EXPECT_EQ(max_abs(fq.forward(mul(x, 4.0))), 4.0f);
}

TEST(QatConvert, CodesDequantizeToTheFakeQuantWeights) {
  for (const std::string& scheme : qat::scheme_names()) {
    SCOPED_TRACE(scheme);
    Generator gen(5);
    models::Cnn cnn({}, gen);
    qat::prepare(cnn, {qat::scheme_config(scheme), {}, {}});
    Tensor images = Tensor::randn({4, 1, 28, 28}, gen);
    qat::calibrate(cnn, 2, [&](int64_t) { cnn.forward(images, gen); });
    const std::vector<qat::ConvertedLayer> layers = qat::convert(cnn);
    ASSERT_EQ(layers.size(), 4u);
    for (const qat::ConvertedLayer& layer : layers) {
      SCOPED_TRACE(layer.name);
      auto* twin = dynamic_cast<qat::QuantTwin*>(cnn.child(layer.name).get());
      ASSERT_NE(twin, nullptr);
      const Tensor w = cnn.parameter(layer.name + ".weight");
      const qat::FakeQuantizer& wfq = twin->weight_fake_quant();
      Tensor fq = qat::fake_quant(w, wfq.spec(), wfq.qparams(w));
      EXPECT_EQ(qat::dequantize_tensor(layer.weight).to_vector<float>(), fq.to_vector<float>());
      EXPECT_EQ(layer.weight.codes.dtype(),
                wfq.spec().is_fp8() || wfq.spec().qmin >= 0 ? DType::u8 : DType::i8);
      EXPECT_EQ(layer.input_params.scale.defined(),
                layer.input_spec.scale_source != quant::ScaleSource::kCurrent);
    }
  }
}

TEST(QatConvert, RefusesAModelWithoutTwins) {
  Generator gen(6);
  models::Cnn cnn({}, gen);
  EXPECT_THROW(qat::convert(cnn), Error);
}

TEST(QatState, ObserverStateSurvivesSaveAndLoadByName) {
  Generator gen(7);
  models::Cnn a({}, gen), b({}, gen);
  qat::prepare(a, {});
  qat::prepare(b, {});
  Tensor images = Tensor::randn({4, 1, 28, 28}, gen, DType::f32, 3.0);
  qat::calibrate(a, 1, [&](int64_t) { a.forward(images, gen); });
  nn::NamedTensors state = a.named_parameters();
  for (auto& buffer : a.named_buffers()) state.push_back(buffer);
  b.load_state(state);
  Tensor x = Tensor::randn({2, 1, 28, 28}, gen);
  a.eval();
  b.eval();
  EXPECT_EQ(a.forward(x, gen).to_vector<float>(), b.forward(x, gen).to_vector<float>());
}

}  // namespace
}  // namespace octet
