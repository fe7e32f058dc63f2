// SmoothQuant on the CNN (qat/smoothquant.h with Conv2d / Linear producers): the groups follow
// the conv1 -> conv2 -> fc1 -> fc2 chain (fc1's columns in blocks of conv2's channels), folding
// leaves the FP32 function unchanged through ReLU, max-pool and the flatten, the smoothed
// activations' per-channel maxima spread less, so W8A8 on a CNN with outlier channels gets closer
// to FP32; misfit groups and prepared layers throw naming the layer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "framework/models/cnn.h"
#include "framework/tensor/autograd.h"
#include "qat/cnn_outlier_ptq.h"
#include "qat/llm_int8.h"
#include "qat/prepare.h"
#include "qat/schemes.h"
#include "qat/smoothquant.h"
#include "tests/support/error_matchers.h"
#include "tests/support/tensor_compare.h"

namespace octet {
namespace {

qat::QatConfig w8a8() {
  qat::QatConfig config;
  config.layers = qat::scheme_config("w8a8");
  return config;
}

const models::CnnConfig kSmall{8, 16, 32, 10, 0.0};
constexpr int64_t kBatch = 32, kBatches = 2;

Tensor images(uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn({kBatch * kBatches, 1, 28, 28}, gen);
}

Tensor logits(models::Cnn& model, const Tensor& x) {
  Generator unused(0);
  model.eval();
  NoGradGuard no_grad;
  return model.forward(x, unused);
}

std::function<void(int64_t)> batches_of(models::Cnn& model, const Tensor& x) {
  return [&model, &x](int64_t i) {
    Generator unused(0);
    model.forward(x.slice(0, i * kBatch, (i + 1) * kBatch), unused);
  };
}

// Scales producer channel `j` up by `factor` and the consumer's input channel j down by it: the
// same function, with an outlier channel entering the consumer (what SmoothQuant must undo).
void inject(models::Cnn& model, const std::string& producer, const std::string& consumer,
            int64_t columns_per_channel, int64_t j, double factor) {
  qat::SmoothGroup group{producer, {consumer}, columns_per_channel};
  const int64_t channels = model.parameter(producer + ".weight").size(0);
  std::vector<double> s(channels, 1.0);
  s[j] = 1.0 / factor;
  qat::fold_channel_scales(model, group, s);
}

// An untrained CNN with one outlier channel entering each of conv2, fc1 and fc2.
std::unique_ptr<models::Cnn> cnn_with_outliers(uint64_t seed) {
  Generator gen(seed);
  auto model = std::make_unique<models::Cnn>(kSmall, gen);
  inject(*model, "conv1", "conv2", 1, 3, 40.0);
  inject(*model, "conv2", "fc1", 49, 5, 40.0);
  inject(*model, "fc1", "fc2", 1, 7, 40.0);
  return model;
}

// max_c / median_c of a layer's per-input-channel max |x| (fc1's columns reduced per channel).
double spread(std::vector<float> amax, int64_t channels) {
  const size_t per = amax.size() / static_cast<size_t>(channels);
  std::vector<float> ch(static_cast<size_t>(channels), 0.0f);
  for (size_t k = 0; k < amax.size(); ++k) ch[k / per] = std::max(ch[k / per], amax[k]);
  const float peak = *std::max_element(ch.begin(), ch.end());
  std::nth_element(ch.begin(), ch.begin() + ch.size() / 2, ch.end());
  return peak / ch[ch.size() / 2];
}

std::map<std::string, double> spreads(models::Cnn& model, const Tensor& x) {
  const auto amax =
      qat::record_input_absmax(model, {"conv2", "fc1", "fc2"}, batches_of(model, x), kBatches);
  return {{"conv2", spread(amax.at("conv2"), kSmall.channels1)},
          {"fc1", spread(amax.at("fc1"), kSmall.channels2)},
          {"fc2", spread(amax.at("fc2"), kSmall.hidden)}};
}

TEST(CnnSmoothQuant, GroupsFollowTheChainWithFc1ColumnsInBlocksOfConv2Channels) {
  Generator gen(1);
  models::Cnn model(models::CnnConfig{}, gen);
  const std::vector<qat::SmoothGroup> groups = qat::smooth_groups(model);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].norm, "conv1");
  EXPECT_EQ(groups[0].linears, std::vector<std::string>{"conv2"});
  EXPECT_EQ(groups[0].columns_per_channel, 1);
  EXPECT_EQ(groups[1].norm, "conv2");
  EXPECT_EQ(groups[1].linears, std::vector<std::string>{"fc1"});
  EXPECT_EQ(groups[1].columns_per_channel, 7 * 7);
  EXPECT_EQ(groups[2].norm, "fc1");
  EXPECT_EQ(groups[2].linears, std::vector<std::string>{"fc2"});
}

TEST(CnnSmoothQuant, FoldDividesTheProducersChannelAndMultipliesTheConsumersSlice) {
  Generator gen(2);
  models::Cnn model(kSmall, gen);
  const std::vector<float> conv1_w = model.parameter("conv1.weight").to_vector<float>();
  const std::vector<float> conv1_b = model.parameter("conv1.bias").to_vector<float>();
  const std::vector<float> conv2_w = model.parameter("conv2.weight").to_vector<float>();
  const std::vector<float> fc1_w = model.parameter("fc1.weight").to_vector<float>();
  std::vector<double> s(static_cast<size_t>(kSmall.channels1), 1.0);
  s[2] = 4.0;
  qat::fold_channel_scales(model, {"conv1", {"conv2"}, 1}, s);
  const std::vector<float> w1 = model.parameter("conv1.weight").to_vector<float>();
  const std::vector<float> w2 = model.parameter("conv2.weight").to_vector<float>();
  for (size_t e = 0; e < w1.size(); ++e)  // filter 2 is elements [2*9, 3*9)
    EXPECT_FLOAT_EQ(w1[e], e / 9 == 2 ? conv1_w[e] / 4.0f : conv1_w[e]) << e;
  EXPECT_FLOAT_EQ(model.parameter("conv1.bias").data<float>()[2], conv1_b[2] / 4.0f);
  for (size_t e = 0; e < w2.size(); ++e)  // [o, c, 3, 3]: channel (e / 9) % 8
    EXPECT_FLOAT_EQ(w2[e], (e / 9) % 8 == 2 ? conv2_w[e] * 4.0f : conv2_w[e]) << e;

  std::vector<double> s2(static_cast<size_t>(kSmall.channels2), 1.0);
  s2[1] = 0.5;
  qat::fold_channel_scales(model, {"conv2", {"fc1"}, 49}, s2);
  const std::vector<float> f1 = model.parameter("fc1.weight").to_vector<float>();
  for (size_t e = 0; e < f1.size(); ++e) {
    const size_t column = e % (16 * 49);
    EXPECT_FLOAT_EQ(f1[e], column / 49 == 1 ? fc1_w[e] * 0.5f : fc1_w[e]) << e;
  }
}

TEST(CnnSmoothQuant, KeepsTheFp32FunctionAndFlattensTheChannelsEachLayerSees) {
  auto model = cnn_with_outliers(3);
  const Tensor x = images(4);
  const Tensor before = logits(*model, x);
  const auto spread_before = spreads(*model, x);
  for (const auto& [layer, value] : spread_before)
    EXPECT_GT(value, 10.0) << layer << ": the injected outlier channel should dominate";

  qat::smooth_quant(*model, qat::smooth_groups(*model), batches_of(*model, x), kBatches);
  EXPECT_LT(testing::relative_error(logits(*model, x), before), 1e-5);
  const auto spread_after = spreads(*model, x);
  for (const auto& [layer, value] : spread_after) {
    std::printf("%s: per-channel max spread %.1f -> %.1f\n", layer.c_str(), spread_before.at(layer),
                value);
    EXPECT_LT(value, spread_before.at(layer) / 4) << layer;
  }
}

// Per-tensor int8 inputs lose the small channels next to a 40x outlier; smoothed, W8A8 tracks the
// FP32 logits more closely.
TEST(CnnSmoothQuant, W8a8OfTheSmoothedCnnIsCloserToFp32) {
  const Tensor x = images(5);
  auto fp32 = cnn_with_outliers(6);
  const Tensor reference = logits(*fp32, x);
  double error[2];
  for (int smooth = 0; smooth < 2; ++smooth) {
    auto model = cnn_with_outliers(6);
    if (smooth) qat::smooth_quant(*model, qat::smooth_groups(*model), batches_of(*model, x), 2);
    qat::prepare(*model, w8a8());
    qat::calibrate(*model, kBatches, batches_of(*model, x));
    error[smooth] = testing::relative_error(logits(*model, x), reference);
  }
  std::printf("w8a8 logits relative error: plain %.4f, smoothed %.4f\n", error[0], error[1]);
  EXPECT_LT(error[1], 0.5 * error[0]);
}

TEST(CnnSmoothQuant, MisfitGroupsAndPreparedLayersThrowNamingTheLayer) {
  Generator gen(7);
  models::Cnn model(kSmall, gen);
  const Tensor x = images(8);
  auto forward = batches_of(model, x);
  using testing::throws_naming;
  // fc1 reads conv2's 16 channels as 49 columns each, not 1.
  EXPECT_TRUE(throws_naming(
      [&] {
        qat::smooth_quant(model, {{"conv2", {"fc1"}, 1}}, forward, 1);
      },
      "fc1"));
  // A Conv2d consumer takes one column per channel.
  EXPECT_TRUE(throws_naming(
      [&] {
        qat::smooth_quant(model, {{"conv1", {"conv2"}, 4}}, forward, 1);
      },
      "conv2"));
  EXPECT_TRUE(throws_naming(
      [&] {
        qat::fold_channel_scales(model, {"conv1", {"conv2"}, 1}, std::vector<double>(3, 1.0));
      },
      "conv1"));
  qat::prepare(model, w8a8());
  EXPECT_TRUE(throws_naming(
      [&] { qat::smooth_quant(model, qat::smooth_groups(model), forward, 1); }, "conv2"));
  EXPECT_TRUE(throws_naming(
      [&] {
        qat::fold_channel_scales(model, {"conv1", {"conv2"}, 1}, std::vector<double>(8, 1.0));
      },
      "conv1"));
}

TEST(CnnSmoothQuant, PreparesTheSmoothquantRowAsW8a8OnEveryLayer) {
  auto model = cnn_with_outliers(9);
  const Tensor x = images(10);
  const Tensor reference = logits(*model, x);
  qat::prepare_cnn_outlier_ptq(*model, "smoothquant", w8a8(), qat::kLlmInt8Threshold,
                               batches_of(*model, x), kBatches);
  for (const char* layer : {"conv1", "conv2", "fc1", "fc2"}) {
    bool twin = false;
    for (auto& [name, module] : model->named_modules())
      if (name == layer) twin = dynamic_cast<qat::QuantTwin*>(module) != nullptr;
    EXPECT_TRUE(twin) << layer;
  }
  EXPECT_LT(testing::relative_error(logits(*model, x), reference), 0.1);
  EXPECT_TRUE(testing::throws_naming([&] { qat::cnn_outlier_layout("gptq"); }, "gptq"));
}

}  // namespace
}  // namespace octet
