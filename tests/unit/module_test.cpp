// The module tree (names, swapping children, modes) and the optimizers' update rules.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/functional/arithmetic.h"
#include "framework/models/cnn.h"
#include "framework/models/gpt.h"
#include "framework/optim/optimizer.h"

namespace octet {
namespace {

TEST(Module, GptParameterTreeHasDottedNames) {
  Generator gen(1);
  models::GptConfig c;
  c.layers = 2;
  c.dim = 32;
  c.heads = 2;
  c.block = 16;
  models::Gpt gpt(c, gen);
  std::vector<std::string> names;
  for (auto& [n, t] : gpt.named_parameters()) names.push_back(n);
  EXPECT_EQ(names.front(), "wte.weight");
  EXPECT_NE(std::find(names.begin(), names.end(), "blocks.1.attn.qkv.weight"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "blocks.0.fc.bias"), names.end());
  EXPECT_EQ(names.back(), "lm_head.weight");
  EXPECT_EQ(gpt.parameter("blocks.1.attn.qkv.weight").shape(), (Shape{96, 32}));
  EXPECT_THROW(gpt.parameter("blocks.9.attn.qkv.weight"), Error);
  // Parameter count of GPT: embeddings + 12*d^2 + 13*d per block + final norm + head.
  const int64_t d = 32, v = 256, t = 16;
  EXPECT_EQ(gpt.num_parameters(), v * d + t * d + 2 * (12 * d * d + 13 * d) + 2 * d + d * v);
}

// A Linear twin, standing in for qat's fake-quant Linear: the parent's forward must use it.
class DoublingLinear : public nn::Linear {
 public:
  using nn::Linear::Linear;
  std::string type_name() const override { return "DoublingLinear"; }
  Tensor forward(const Tensor& x) override { return mul(nn::Linear::forward(x), 2.0); }
};

TEST(Module, ReplaceChildSwapsTheImplementationTheParentCalls) {
  Generator gen(3);
  models::Cnn cnn(models::CnnConfig{}, gen);
  cnn.eval();
  Tensor x = Tensor::randn({2, 1, 28, 28}, gen);
  Tensor before = cnn.forward(x, gen);
  auto old = std::dynamic_pointer_cast<nn::Linear>(cnn.child("fc2"));
  ASSERT_TRUE(old);
  auto twin = std::make_shared<DoublingLinear>(old->in_features(), old->out_features(), true, gen);
  twin->load_state(old->named_parameters());
  cnn.replace_child("fc2", twin);
  EXPECT_FALSE(twin->is_training()) << "the replacement inherits the parent's mode";
  Tensor after = cnn.forward(x, gen);
  auto b = before.to_vector<float>(), a = after.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_FLOAT_EQ(a[i], 2 * b[i]);
  EXPECT_THROW(cnn.replace_child("fc2", std::make_shared<nn::LayerNorm>(4)), Error);
  EXPECT_THROW(cnn.replace_child("nope", twin), Error);
}

TEST(Module, TrainEvalPropagates) {
  Generator gen(1);
  models::Cnn cnn(models::CnnConfig{}, gen);
  cnn.eval();
  for (auto& [name, m] : cnn.named_modules()) EXPECT_FALSE(m->is_training()) << name;
  cnn.train();
  for (auto& [name, m] : cnn.named_modules()) EXPECT_TRUE(m->is_training()) << name;
}

TEST(Optim, AdamWMatchesTheReferenceUpdate) {
  Tensor p = Tensor::from_vector<float>({1.0f, -2.0f}, {2}).set_requires_grad();
  Tensor b = Tensor::from_vector<float>({0.5f}, {1}).set_requires_grad();
  optim::AdamW opt({{"w", p}, {"b", b}}, {0.1, 0.9, 0.999, 1e-8, 0.01, 1});
  double m = 0, v = 0, w = 1.0;
  for (int step = 1; step <= 3; ++step) {
    const double g = 2 * w;  // d/dw of w^2
    p.set_grad(Tensor::from_vector<float>({static_cast<float>(2 * p.to_vector<float>()[0]),
                                           static_cast<float>(2 * p.to_vector<float>()[1])},
                                          {2}));
    opt.step();
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    const double mhat = m / (1 - std::pow(0.9, step)), vhat = v / (1 - std::pow(0.999, step));
    w = w * (1 - 0.1 * 0.01) - 0.1 * mhat / (std::sqrt(vhat) + 1e-8);
    EXPECT_NEAR(p.to_vector<float>()[0], w, 1e-6) << "step " << step;
  }
  EXPECT_FLOAT_EQ(b.to_vector<float>()[0], 0.5f) << "parameters without grad are untouched";
}

TEST(Optim, SgdMomentumAndSchedule) {
  Tensor p = Tensor::from_vector<float>({1.0f}, {1}).set_requires_grad();
  optim::Sgd opt({{"w", p}}, {0.1, 0.9, 0.0, false});
  p.set_grad(Tensor::from_vector<float>({1.0f}, {1}));
  opt.step();  // buf = 1, w = 0.9
  opt.step();  // buf = 1.9, w = 0.71
  EXPECT_NEAR(p.to_vector<float>()[0], 0.71f, 1e-6);

  optim::WarmupCosine s{1.0, 0.1, 10, 110};
  EXPECT_NEAR(s.at(0), 0.1, 1e-12);
  EXPECT_NEAR(s.at(9), 1.0, 1e-12);
  EXPECT_NEAR(s.at(60), 0.55, 1e-12);
  EXPECT_NEAR(s.at(110), 0.1, 1e-12);
}

TEST(Optim, ClipGradNormScalesToTheLimit) {
  Tensor a = Tensor::zeros({2}).set_requires_grad(), b = Tensor::zeros({1}).set_requires_grad();
  a.set_grad(Tensor::from_vector<float>({3, 0}, {2}));
  b.set_grad(Tensor::from_vector<float>({4}, {1}));
  EXPECT_NEAR(optim::clip_grad_norm({a, b}, 1.0), 5.0, 1e-6);
  EXPECT_NEAR(a.grad().to_vector<float>()[0], 0.6f, 1e-5);
  EXPECT_NEAR(b.grad().to_vector<float>()[0], 0.8f, 1e-5);
  // The no-wait variant is the same rule (on a CPU, the same call).
  Tensor c = Tensor::zeros({2}).set_requires_grad();
  c.set_grad(Tensor::from_vector<float>({6, 8}, {2}));
  optim::clip_grad_norm_nowait({c}, 2.0);
  EXPECT_NEAR(c.grad().to_vector<float>()[0], 1.2f, 1e-5);
  EXPECT_NEAR(c.grad().to_vector<float>()[1], 1.6f, 1e-5);
}

}  // namespace
}  // namespace octet
