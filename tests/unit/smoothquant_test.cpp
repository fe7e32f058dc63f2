// Channel folding on GPT and LLaMA: outlier injection and SmoothQuant leave the FP32 logits
// unchanged, injection makes the chosen input columns of the block linears ~factor x larger,
// SmoothQuant follows s_j = max|X_j|^a / max|W_j|^(1-a), flattens the channels a linear sees and
// so rescues W8A8 PTQ on an injected GPT; bad inputs throw naming what is wrong.
#include "qat/smoothquant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>

#include "framework/models/gpt.h"
#include "framework/tensor/autograd.h"
#include "qat/outlier_injection.h"
#include "qat/prepare.h"
#include "qat/schemes.h"
#include "tests/support/error_matchers.h"
#include "tests/support/tensor_compare.h"

namespace octet {
namespace {

models::GptConfig small_config() {
  models::GptConfig c;
  c.layers = 2;
  c.dim = 64;
  c.heads = 4;
  c.block = 32;
  return c;
}

std::vector<Tensor> token_batches(int n) {
  Generator data(31);
  std::vector<Tensor> batches;
  for (int i = 0; i < n; ++i) {
    std::vector<int64_t> tokens(4 * 32);
    for (int64_t& t : tokens) t = static_cast<int64_t>(data.below(256));
    batches.push_back(Tensor::from_vector(tokens, {4, 32}));
  }
  return batches;
}

Tensor logits(models::LanguageModel& model, const Tensor& tokens) {
  Generator unused(0);
  model.eval();
  NoGradGuard no_grad;
  return model.forward(tokens, unused);
}

using testing::relative_error;

std::map<std::string, std::vector<float>> input_absmax(models::LanguageModel& model,
                                                       const std::vector<std::string>& linears,
                                                       const std::vector<Tensor>& batches) {
  Generator unused(0);
  return qat::record_input_absmax(
      model, linears, [&](int64_t i) { model.forward(batches[i], unused); },
      static_cast<int64_t>(batches.size()));
}

// max_j / median_j of a linear's per-input-channel max |x|: how much one channel dominates.
double peak_to_median(std::vector<float> amax) {
  const float peak = *std::max_element(amax.begin(), amax.end());
  std::nth_element(amax.begin(), amax.begin() + amax.size() / 2, amax.end());
  return peak / amax[amax.size() / 2];
}

std::vector<std::string> all_linears(const std::vector<qat::SmoothGroup>& groups) {
  std::vector<std::string> names;
  for (const auto& g : groups) names.insert(names.end(), g.linears.begin(), g.linears.end());
  return names;
}

// Injection keeps the logits and scales exactly the chosen columns of every group's inputs.
void check_injection(models::LanguageModel& model, const std::vector<std::string>& expected) {
  const std::vector<Tensor> batches = token_batches(2);
  const std::vector<qat::SmoothGroup> groups = qat::smooth_groups(model);
  EXPECT_EQ(all_linears(groups), expected);
  const Tensor before = logits(model, batches[0]);
  const auto amax_before = input_absmax(model, expected, batches);
  const std::vector<int64_t> dims = {5, 21};
  qat::inject_outlier_features(model, dims, 20.0);
  EXPECT_LT(relative_error(logits(model, batches[0]), before), 1e-5);
  const auto amax_after = input_absmax(model, expected, batches);
  for (const std::string& name : expected) {
    for (size_t j = 0; j < amax_before.at(name).size(); ++j) {
      const bool chosen = std::find(dims.begin(), dims.end(), j) != dims.end();
      const double ratio = amax_after.at(name)[j] / amax_before.at(name)[j];
      EXPECT_NEAR(ratio, chosen ? 20.0 : 1.0, chosen ? 1e-3 : 1e-4) << name << " column " << j;
    }
  }
}

TEST(OutlierInjection, GptLogitsUnchangedAndChosenColumnsTwentyTimesLarger) {
  Generator gen(1);
  models::Gpt gpt(small_config(), gen);
  const float ln1_bias_before = gpt.parameter("blocks.1.ln1.bias").data<float>()[5] = 0.25f;
  check_injection(gpt, {"blocks.0.attn.qkv", "blocks.0.fc", "blocks.1.attn.qkv", "blocks.1.fc"});
  EXPECT_FLOAT_EQ(gpt.parameter("blocks.1.ln1.weight").data<float>()[21], 20.0f);
  EXPECT_FLOAT_EQ(gpt.parameter("blocks.1.ln1.bias").data<float>()[5], 20 * ln1_bias_before);
}

TEST(OutlierInjection, LlamaLogitsUnchangedAndChosenColumnsTwentyTimesLarger) {
  Generator gen(2);
  models::Llama llama(small_config(), gen);
  check_injection(llama, {"blocks.0.attn.qkv", "blocks.0.gate", "blocks.0.up", "blocks.1.attn.qkv",
                          "blocks.1.gate", "blocks.1.up"});
  EXPECT_FLOAT_EQ(llama.parameter("blocks.0.mlp_norm.weight").data<float>()[5], 20.0f);
}

TEST(SmoothGroups, NamesEachNormWithTheLinearsReadingIt) {
  Generator gen(3);
  models::Llama llama(small_config(), gen);
  const std::vector<qat::SmoothGroup> groups = qat::smooth_groups(llama);
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_EQ(groups[1].norm, "blocks.0.mlp_norm");
  EXPECT_EQ(groups[1].linears, (std::vector<std::string>{"blocks.0.gate", "blocks.0.up"}));
  EXPECT_EQ(groups[2].norm, "blocks.1.attn_norm");
  Generator gen2(4);
  models::Gpt gpt(small_config(), gen2);
  EXPECT_EQ(qat::smooth_groups(gpt)[3].norm, "blocks.1.ln2");
}

TEST(SmoothQuant, FollowsTheRuleKeepsLogitsAndFlattensChannels) {
  Generator gen(5);
  models::Gpt gpt(small_config(), gen);
  qat::inject_outlier_features(gpt, {3, 40}, 20.0);
  const std::vector<Tensor> batches = token_batches(3);
  const std::vector<qat::SmoothGroup> groups = qat::smooth_groups(gpt);
  const Tensor before = logits(gpt, batches[2]);
  const auto act = input_absmax(gpt, {"blocks.0.attn.qkv"}, {batches[0], batches[1]});
  const std::vector<float> qkv = gpt.parameter("blocks.0.attn.qkv.weight").to_vector<float>();
  const std::vector<float> ln1 = gpt.parameter("blocks.0.ln1.weight").to_vector<float>();
  const Tensor qkv_weight = gpt.parameter("blocks.0.attn.qkv.weight");

  const double alpha = 0.4;
  Generator unused(0);
  qat::smooth_quant(
      gpt, groups, [&](int64_t i) { gpt.forward(batches[i], unused); }, 2, alpha);
  EXPECT_LT(relative_error(logits(gpt, batches[2]), before), 1e-5);
  EXPECT_TRUE(gpt.parameter("blocks.0.attn.qkv.weight").same(qkv_weight));
  EXPECT_EQ(gpt.child("blocks")->child("0")->child("attn")->child("qkv")->type_name(), "Linear");

  // s_j from the recorded statistics, as the paper writes it.
  const std::vector<float> ln1_after = gpt.parameter("blocks.0.ln1.weight").to_vector<float>();
  const std::vector<float> qkv_after = qkv_weight.to_vector<float>();
  for (int64_t j = 0; j < 64; ++j) {
    double w_max = 0;
    for (int64_t r = 0; r < 192; ++r) w_max = std::max(w_max, std::fabs(double{qkv[r * 64 + j]}));
    const double s = std::pow(std::max(double{act.at("blocks.0.attn.qkv")[j]}, 1e-5), alpha) /
                     std::pow(std::max(w_max, 1e-5), 1 - alpha);
    EXPECT_NEAR(ln1_after[j], ln1[j] / s, 1e-6 * std::fabs(ln1[j] / s)) << "channel " << j;
    EXPECT_NEAR(qkv_after[7 * 64 + j], qkv[7 * 64 + j] * s, 1e-6 * std::fabs(qkv[7 * 64 + j] * s));
  }

  const auto flat = input_absmax(gpt, {"blocks.0.attn.qkv", "blocks.1.fc"}, {batches[0]});
  const auto peaked = std::map<std::string, double>{
      {"blocks.0.attn.qkv", peak_to_median(act.at("blocks.0.attn.qkv"))}};
  std::printf("blocks.0.attn.qkv input max/median: %.1f before smoothing, %.2f after\n",
              peaked.at("blocks.0.attn.qkv"), peak_to_median(flat.at("blocks.0.attn.qkv")));
  EXPECT_GT(peaked.at("blocks.0.attn.qkv"), 10.0);
  EXPECT_LT(peak_to_median(flat.at("blocks.0.attn.qkv")), 2.0);
  EXPECT_LT(peak_to_median(flat.at("blocks.1.fc")), 2.0);
}

TEST(SmoothQuant, RescuesW8A8OnAGptWithInjectedOutliers) {
  const std::vector<Tensor> batches = token_batches(5);
  Generator unused(0);
  auto w8a8_error = [&](bool smooth) {
    Generator gen(6), same(6);
    models::Gpt reference(small_config(), gen), gpt(small_config(), same);
    qat::inject_outlier_features(gpt, {3, 17, 40}, 20.0);
    auto forward = [&](int64_t i) { gpt.forward(batches[i], unused); };
    if (smooth) qat::smooth_quant(gpt, qat::smooth_groups(gpt), forward, 4);
    qat::QatConfig config;
    config.layers = qat::scheme_config("w8a8");
    qat::prepare(gpt, config);
    qat::calibrate(gpt, 4, forward);
    return relative_error(logits(gpt, batches[4]), logits(reference, batches[4]));
  };
  const double plain = w8a8_error(false), smoothed = w8a8_error(true);
  std::printf("w8a8 logits relative error on the injected GPT: %.3e plain, %.3e smoothed\n", plain,
              smoothed);
  EXPECT_LT(smoothed * 3, plain);
}

using testing::throws_naming;

TEST(SmoothQuant, BadInputsThrowNamingTheProblem) {
  Generator gen(7);
  models::Gpt gpt(small_config(), gen);
  const std::vector<Tensor> batches = token_batches(1);
  Generator unused(0);
  auto forward = [&](int64_t i) { gpt.forward(batches[i], unused); };
  const auto groups = qat::smooth_groups(gpt);
  EXPECT_TRUE(throws_naming([&] { qat::smooth_quant(gpt, groups, forward, 1, 1.5); }, "alpha"));
  EXPECT_TRUE(throws_naming([&] { qat::smooth_quant(gpt, groups, forward, 0); }, "batch"));
  EXPECT_TRUE(throws_naming([&] { qat::smooth_quant(gpt, {}, forward, 1); }, "no groups"));
  EXPECT_TRUE(throws_naming(
      [&] {
        qat::smooth_quant(gpt, {{"blocks.0.ln1", {"blocks.0.nope"}}}, forward, 1);
      },
      "blocks.0.nope"));
  EXPECT_TRUE(throws_naming([&] { qat::inject_outlier_features(gpt, {64}, 20.0); }, "64"));
  EXPECT_TRUE(throws_naming([&] { qat::inject_outlier_features(gpt, {1}, 0.0); }, "factor"));
  EXPECT_TRUE(throws_naming([&] { qat::inject_outlier_features(gpt, {1, 1}, 20.0); }, "twice"));
  nn::Linear lone(4, 4, true, gen);
  EXPECT_TRUE(throws_naming([&] { qat::inject_outlier_features(lone, {1}, 20.0); }, "Linear"));
  EXPECT_TRUE(throws_naming(
      [&] { qat::fold_channel_scales(gpt, groups[0], std::vector<double>(64, -1.0)); },
      "blocks.0.ln1"));

  qat::prepare(gpt, {});
  EXPECT_TRUE(
      throws_naming([&] { qat::smooth_quant(gpt, groups, forward, 1); }, "blocks.0.attn.qkv"));
}

}  // namespace
}  // namespace octet
