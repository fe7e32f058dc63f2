// LLM.int8(): the layer's forward against a reference written out here (regular columns
// fake-quantized per token and per output channel, outlier columns exact), the outlier set that
// calibration finds, the exact W8A8-per-token output when there are no outliers, the export
// parts' bit-exact round trip, the accuracy gain over W8A8 on a GPT with injected outlier
// features, and errors that name the layer.
#include "qat/llm_int8.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>

#include "framework/functional/arithmetic.h"
#include "framework/functional/linear.h"
#include "framework/models/gpt.h"
#include "framework/tensor/autograd.h"
#include "ops/quant/outliers.h"
#include "ops/quant/quantize.h"
#include "ops/quant/scale_rules.h"
#include "qat/outlier_injection.h"
#include "qat/prepare.h"
#include "qat/schemes.h"
#include "tests/support/error_matchers.h"
#include "tests/support/tensor_compare.h"

namespace octet {
namespace {

class OneLinear : public nn::Module {
 public:
  OneLinear(int64_t in, int64_t out, Generator& gen) {
    fc_ = register_module("fc", std::make_shared<nn::Linear>(in, out, true, gen));
  }
  std::string type_name() const override { return "OneLinear"; }
  Tensor forward(const Tensor& x) { return fc_->forward(x); }
  nn::Linear& fc() const { return *fc_; }
  qat::LlmInt8Linear& int8() const { return dynamic_cast<qat::LlmInt8Linear&>(*fc_); }

 private:
  nn::Child<nn::Linear> fc_;
};

// Each row of m [rows, cols] fake-quantized to int8 (narrow, symmetric) over the columns not in
// `exact`, from that row's own absmax over them, with the kernels' arithmetic written out:
// s = amax / 127 floored at float eps, q = clamp(nearbyint(v * (1/s)), -127, 127), v' = q * s.
// Columns in `exact` keep their values.
std::vector<float> fake_quant_rows(const std::vector<float>& m, int64_t rows, int64_t cols,
                                   const std::vector<int64_t>& exact) {
  std::vector<bool> keep(cols, false);
  for (int64_t c : exact) keep[c] = true;
  std::vector<float> out = m;
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0;
    for (int64_t c = 0; c < cols; ++c) {
      if (!keep[c]) amax = std::max(amax, std::fabs(m[r * cols + c]));
    }
    const float s = std::max(amax / 127.0f, quant::kMinScale), inv = 1.0f / s;
    for (int64_t c = 0; c < cols; ++c) {
      if (keep[c]) continue;
      const float q = std::clamp(std::nearbyint(m[r * cols + c] * inv), -127.0f, 127.0f);
      out[r * cols + c] = q * s;
    }
  }
  return out;
}

// y = fq(x) fq(W)^T + b in double, against the layer's output; the tolerance scales with the
// sum of the terms' magnitudes (float GEMM rounding), far below one quantization step.
void expect_matches_reference(const Tensor& y, const Tensor& x, const nn::Linear& layer,
                              const std::vector<int64_t>& outliers) {
  const int64_t in = layer.in_features(), out = layer.out_features(), rows = x.numel() / in;
  const std::vector<float> xq = fake_quant_rows(x.to_vector<float>(), rows, in, outliers);
  const std::vector<float> wq =
      fake_quant_rows(layer.weight().to_vector<float>(), out, in, outliers);
  const std::vector<float> b = layer.bias().to_vector<float>();
  const std::vector<float> got = y.to_vector<float>();
  ASSERT_EQ(static_cast<int64_t>(got.size()), rows * out);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double want = b[o], bound = std::fabs(b[o]);
      for (int64_t c = 0; c < in; ++c) {
        const double term = static_cast<double>(xq[r * in + c]) * wq[o * in + c];
        want += term;
        bound += std::fabs(term);
      }
      ASSERT_NEAR(got[r * out + o], want, 1e-5 * bound + 1e-6) << "row " << r << " output " << o;
    }
  }
}

// Standard normal inputs (|x| < 6 everywhere with overwhelming probability) with `columns`
// scaled by `factor`.
Tensor input_with_outliers(const Shape& shape, Generator& gen, const std::vector<int64_t>& columns,
                           float factor) {
  Tensor x = Tensor::randn(shape, gen);
  const int64_t cols = shape.back();
  float* v = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (std::find(columns.begin(), columns.end(), i % cols) != columns.end()) v[i] *= factor;
  }
  return x;
}

using testing::relative_error;

TEST(LlmInt8, ForwardMatchesReferenceAndGradientsFlowThroughBothParts) {
  Generator gen(11);
  nn::Linear source(64, 24, true, gen);
  // A large weight in an outlier column: a weight scale taken over all columns would differ.
  source.weight().data<float>()[7] = 5.0f;
  qat::LlmInt8Linear layer(source, 6.0, "probe");
  layer.eval();  // no calibration: the dynamic rule picks each batch's own outliers
  const std::vector<int64_t> planted = {7, 40};
  Tensor x = input_with_outliers({3, 5, 64}, gen, planted, 15.0f);
  x.set_requires_grad();
  Tensor y = layer.forward(x);
  EXPECT_EQ(y.shape(), (Shape{3, 5, 24}));
  EXPECT_FALSE(layer.input_fake_quant().calibrated());
  EXPECT_EQ(layer.input_fake_quant().outlier_columns(x.detach().reshape({15, 64})), planted);
  expect_matches_reference(y, x.detach(), layer, planted);

  // d sum(y) / dx[r, c] is the column sum of the weight the column met: W for outliers,
  // fq(W) (straight through, every value in range) for the regular ones.
  sum(y).backward();
  const std::vector<float> wq = fake_quant_rows(layer.weight().to_vector<float>(), 24, 64, planted);
  const std::vector<float> w = layer.weight().to_vector<float>();
  const std::vector<float> dx = x.grad().to_vector<float>();
  for (int64_t c = 0; c < 64; ++c) {
    const bool outlier = c == 7 || c == 40;
    double want = 0;
    for (int64_t o = 0; o < 24; ++o) want += outlier ? w[o * 64 + c] : wq[o * 64 + c];
    for (int64_t r = 0; r < 15; ++r) ASSERT_NEAR(dx[r * 64 + c], want, 1e-5) << "column " << c;
  }
  EXPECT_TRUE(layer.weight().grad().defined());

  // With every column an outlier nothing is quantized.
  qat::LlmInt8Linear all_outliers(source, 1e-6, "all");
  all_outliers.eval();
  EXPECT_EQ(all_outliers.forward(x.detach()).to_vector<float>(),
            source.forward(x.detach()).to_vector<float>());
}

TEST(LlmInt8, CalibrationKeepsEveryColumnThatEverExceededTheThreshold) {
  Generator gen(12);
  OneLinear net(64, 16, gen);
  const std::vector<std::string> swapped = qat::prepare_llm_int8(net);
  EXPECT_EQ(swapped, std::vector<std::string>{"fc"});
  std::vector<Tensor> batches;
  for (int i = 0; i < 4; ++i) batches.push_back(input_with_outliers({32, 64}, gen, {30}, 10.0f));
  batches[1].data<float>()[5 * 64 + 5] = -6.5f;  // column 5 exceeds once, in one row
  batches[2].data<float>()[9 * 64 + 50] = 6.0f;  // exactly at the threshold: not an outlier
  qat::calibrate(net, 4, [&](int64_t i) {
    // Calibration runs in FP32.
    EXPECT_EQ(net.forward(batches[i]).to_vector<float>(),
              linear(batches[i], net.fc().weight(), net.fc().bias()).to_vector<float>());
  });
  const qat::OutlierColumnQuantizer& detector = net.int8().input_fake_quant();
  ASSERT_TRUE(detector.calibrated());
  EXPECT_EQ(detector.calibrated_columns(), (std::vector<int64_t>{5, 30}));

  // The calibrated set is used for every batch: none of these columns exceeds the threshold
  // now, and column 60 does, yet the split stays {5, 30}.
  Tensor x = input_with_outliers({8, 64}, gen, {60}, 10.0f);
  expect_matches_reference(net.forward(x), x, net.fc(), {5, 30});

  // The set is checkpointed in buffers and restored by name.
  Generator gen2(99);
  OneLinear fresh(64, 16, gen2);
  qat::prepare_llm_int8(fresh);
  nn::NamedTensors state = net.named_parameters();
  for (const auto& buffer : net.named_buffers()) state.push_back(buffer);
  fresh.load_state(state);
  EXPECT_EQ(fresh.int8().input_fake_quant().calibrated_columns(), (std::vector<int64_t>{5, 30}));
  EXPECT_EQ(fresh.forward(x).to_vector<float>(), net.forward(x).to_vector<float>());
}

TEST(LlmInt8, WithoutOutliersItIsExactlyW8A8PerToken) {
  Generator gen(13);
  nn::Linear source(48, 20, true, gen);
  qat::LlmInt8Linear layer(source);
  qat::QuantLinear w8a8(source, qat::scheme_config("w8a8_dyn"));
  layer.eval();
  w8a8.eval();
  Tensor x = Tensor::randn({10, 48}, gen);
  EXPECT_EQ(layer.forward(x).to_vector<float>(), w8a8.forward(x).to_vector<float>());
  // Also after a calibration that found no outlier column.
  qat::calibrate(layer, 1, [&](int64_t) { layer.forward(x); });
  ASSERT_TRUE(layer.input_fake_quant().calibrated());
  Tensor x2 = Tensor::randn({6, 48}, gen, DType::f32, 2.0);
  EXPECT_EQ(layer.forward(x2).to_vector<float>(), w8a8.forward(x2).to_vector<float>());
}

TEST(LlmInt8, PartsRoundTripBitExact) {
  Generator gen(14);
  OneLinear net(64, 24, gen);
  qat::prepare_llm_int8(net);
  const std::vector<int64_t> planted = {2, 33, 63};
  Tensor calib = input_with_outliers({32, 64}, gen, planted, 12.0f);
  qat::calibrate(net, 1, [&](int64_t) { net.forward(calib); });
  const qat::LlmInt8Linear& layer = net.int8();
  const qat::LlmInt8Parts parts = qat::llm_int8_parts(layer);
  EXPECT_EQ(parts.outlier_columns.to_vector<int64_t>(), planted);
  ASSERT_EQ(parts.regular_weight_codes.shape(), (Shape{24, 61}));
  EXPECT_EQ(parts.regular_weight_codes.dtype(), DType::i8);
  EXPECT_EQ(parts.weight_scale.shape(), (Shape{24}));
  EXPECT_EQ(parts.bias.to_vector<float>(), layer.bias().to_vector<float>());

  const std::vector<int64_t> regular = quant::complement_columns(planted, 64);
  auto columns = [](const Tensor& m, const std::vector<int64_t>& cols) {
    Tensor out = Tensor::empty({m.size(0), static_cast<int64_t>(cols.size())});
    quant::gather_columns(m.data<float>(), m.size(0), m.size(1), cols.data(),
                          static_cast<int64_t>(cols.size()), out.data<float>());
    return out;
  };
  EXPECT_EQ(parts.outlier_weight.to_vector<float>(),
            columns(layer.weight(), planted).to_vector<float>());
  // Dequantized codes are the fake-quant regular weight the forward uses, bit for bit.
  Tensor dequantized = Tensor::empty({24, 61});
  const quant::ScaleLayout layout =
      quant::scale_layout(layer.weight_fake_quant().spec(), dequantized.shape());
  quant::dequantize_int(parts.regular_weight_codes.data<int8_t>(), dequantized.numel(), layout,
                        parts.weight_scale.data<float>(), nullptr, -127, 127,
                        dequantized.data<float>());
  const Tensor regular_weight = columns(layer.weight(), regular);
  EXPECT_EQ(dequantized.to_vector<float>(),
            layer.weight_fake_quant().forward(regular_weight).to_vector<float>());

  // And the layer's output is rebuilt from the parts exactly.
  Tensor x = input_with_outliers({7, 64}, gen, planted, 12.0f);
  Tensor rebuilt =
      add(linear(layer.input_fake_quant().forward(columns(x, regular)), dequantized, parts.bias),
          linear(columns(x, planted), parts.outlier_weight));
  EXPECT_EQ(net.forward(x).to_vector<float>(), rebuilt.to_vector<float>());
}

// A random GPT's logits move by ~1% under any int8 scheme (the MLP and attention outputs are
// most of what distinguishes them), so the comparison is against each scheme's own error on
// the same model without outliers: LLM.int8() should not notice the outliers, W8A8 should.
TEST(LlmInt8, BeatsW8A8OnAGptWithInjectedOutlierFeatures) {
  models::GptConfig c;
  c.layers = 2;
  c.dim = 64;
  c.heads = 4;
  c.block = 32;
  Generator data(22);
  std::vector<Tensor> batches;
  for (int i = 0; i < 5; ++i) {
    std::vector<int64_t> tokens(4 * 32);
    for (int64_t& t : tokens) t = static_cast<int64_t>(data.below(256));
    batches.push_back(Tensor::from_vector(tokens, {4, 32}));
  }
  Generator unused(0);
  // The logits' relative error of a PTQ scheme on held-out batch 4, calibrated on batches 0-3.
  auto ptq_error = [&](bool inject, bool llm_int8) {
    Generator gen(21);
    models::Gpt reference(c, gen);
    Generator same(21);
    models::Gpt gpt(c, same);
    if (inject) qat::inject_outlier_features(gpt, {3, 17, 40}, 20.0);
    if (llm_int8) {
      EXPECT_EQ(qat::prepare_llm_int8(gpt).size(), 8u);
    } else {
      qat::QatConfig config;
      config.layers = qat::scheme_config("w8a8");
      qat::prepare(gpt, config);
    }
    qat::calibrate(gpt, 4, [&](int64_t i) { gpt.forward(batches[i], unused); });
    if (llm_int8) {
      auto& qkv = dynamic_cast<qat::LlmInt8Linear&>(
          *gpt.child("blocks")->child("0")->child("attn")->child("qkv"));
      const std::vector<int64_t> planted = {3, 17, 40};
      EXPECT_EQ(qkv.input_fake_quant().calibrated_columns(),
                inject ? planted : std::vector<int64_t>{});
    }
    reference.eval();
    gpt.eval();
    NoGradGuard no_grad;
    return relative_error(gpt.forward(batches[4], unused), reference.forward(batches[4], unused));
  };
  const double w8a8_clean = ptq_error(false, false), w8a8 = ptq_error(true, false);
  const double int8_clean = ptq_error(false, true), int8 = ptq_error(true, true);
  std::printf(
      "logits relative error, clean -> injected: w8a8 %.3e -> %.3e, llm.int8 %.3e -> %.3e\n",
      w8a8_clean, w8a8, int8_clean, int8);
  EXPECT_GT(w8a8, 5 * w8a8_clean);
  EXPECT_LT(int8, 1.1 * int8_clean);
  EXPECT_GT(w8a8, 5 * int8);
}

using testing::throws_naming;

TEST(LlmInt8, BadInputsThrowNamingTheLayer) {
  Generator gen(15);
  models::GptConfig c;
  c.layers = 1;
  c.dim = 32;
  c.heads = 2;
  c.block = 8;
  models::Gpt gpt(c, gen);
  qat::prepare_llm_int8(gpt);
  auto& fc = dynamic_cast<qat::LlmInt8Linear&>(*gpt.child("blocks")->child("0")->child("fc"));
  EXPECT_TRUE(throws_naming([&] { fc.forward(Tensor::randn({2, 31}, gen)); }, "blocks.0.fc"));
  EXPECT_TRUE(throws_naming(
      [&] {
        fc.forward(Tensor::zeros({2, 32}, DType::f64));
      },
      "blocks.0.fc"));
  EXPECT_TRUE(throws_naming([&] { qat::llm_int8_parts(fc); }, "blocks.0.fc"));
  EXPECT_TRUE(throws_naming([&] { qat::prepare_llm_int8(gpt); }, "blocks.0.attn.qkv"));

  Generator gen2(16);
  models::Gpt prepared(c, gen2);
  qat::prepare(prepared, {});
  EXPECT_TRUE(throws_naming([&] { qat::prepare_llm_int8(prepared); }, "blocks.0.attn.qkv"));

  nn::Linear source(8, 4, true, gen);
  EXPECT_TRUE(throws_naming([&] { qat::LlmInt8Linear(source, 0.0, "zero"); }, "zero"));
  EXPECT_TRUE(throws_naming([&] { qat::LlmInt8Linear(source, std::nan(""), "nan"); }, "nan"));
}

}  // namespace
}  // namespace octet
