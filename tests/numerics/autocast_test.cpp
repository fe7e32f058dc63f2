// bf16 autocast of matmul and linear (framework/autocast.h): under the guard the GEMMs take the
// bf16-rounded f32 operands and accumulate in f32, so results equal an f64 product of the rounded
// operands to f32 accuracy and differ from the f32 result by about bf16's rounding; the backward
// does the same with the rounded gradient, even when it runs after the guard ended; f64 is never
// autocast; and a small GPT trains under it.
#include "framework/autocast.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "framework/functional/arithmetic.h"
#include "framework/functional/linear.h"
#include "framework/models/gpt.h"
#include "framework/optim/optimizer.h"
#include "framework/train/language_model.h"
#include "tests/support/tensor_compare.h"

namespace octet {
namespace {

using testing::relative_error;

// f32 -> bf16 (round to nearest even) -> f64: the values an autocast GEMM multiplies.
Tensor rounded(const Tensor& t) { return t.detach().to(DType::bf16).to(DType::f64); }
Tensor f64(const Tensor& t) { return t.detach().to(DType::f64); }
Tensor f32(const Tensor& t) { return t.to(DType::f32); }

// Relative error of f32 GEMMs on exact bf16 products: f32 accumulation over K <= 96 terms.
constexpr double kF32Tight = 5e-7;
// bf16 keeps 8 significant bits: each operand is off by up to 2^-9 relatively, so a product of
// random operands moves by a few 1e-3 (norm-relative); a GEMM that did not round would show ~1e-7.
constexpr double kBf16Loose = 1e-2, kBf16AtLeast = 5e-4;

struct LinearCase {
  Tensor x, w, b, r;  // r: the upstream gradient, loss = sum(linear(x, w, b) * r)
};

LinearCase make_linear_case(Generator& gen) {
  LinearCase c;
  c.x = Tensor::randn({3, 7, 96}, gen).set_requires_grad();
  c.w = Tensor::randn({40, 96}, gen, DType::f32, 0.1).set_requires_grad();
  c.b = Tensor::randn({40}, gen).set_requires_grad();
  c.r = Tensor::randn({3, 7, 40}, gen);
  return c;
}

struct LinearResult {
  Tensor y, gx, gw, gb;
};

LinearResult run_linear(const LinearCase& c, bool autocast_forward, bool autocast_backward) {
  for (Tensor t : {c.x, c.w, c.b}) t.zero_grad();  // handles: this clears the leaves' .grad
  Tensor y;
  {
    AutocastGuard guard(DType::bf16, autocast_forward);
    y = linear(c.x, c.w, c.b);
  }
  {
    AutocastGuard guard(DType::bf16, autocast_backward);
    sum(mul(y, c.r)).backward();
  }
  return {y.detach(), c.x.grad(), c.w.grad(), c.b.grad()};
}

TEST(Autocast, GuardsNestAndRestore) {
  EXPECT_FALSE(autocast_dtype().has_value());
  {
    AutocastGuard outer(DType::bf16);
    EXPECT_EQ(autocast_dtype(), DType::bf16);
    {
      AutocastGuard off(DType::bf16, false);
      EXPECT_FALSE(autocast_dtype().has_value());
      AutocastGuard on_again(DType::bf16);
      EXPECT_EQ(autocast_dtype(), DType::bf16);
    }
    EXPECT_EQ(autocast_dtype(), DType::bf16);
    // The setting is the calling thread's: another thread starts without autocast.
    bool other_thread_on = true;
    std::thread([&] { other_thread_on = autocast_dtype().has_value(); }).join();
    EXPECT_FALSE(other_thread_on);
    // Only bf16 is supported; a refused guard leaves the setting as it was.
    EXPECT_THROW(AutocastGuard(DType::f16), Error);
    EXPECT_THROW(AutocastGuard(DType::f32), Error);
    EXPECT_EQ(autocast_dtype(), DType::bf16);
  }
  EXPECT_FALSE(autocast_dtype().has_value());
}

TEST(Autocast, PrecisionNames) {
  EXPECT_FALSE(autocast_from_precision("fp32", "test").has_value());
  EXPECT_EQ(autocast_from_precision("bf16", "test"), DType::bf16);
  EXPECT_THROW(autocast_from_precision("fp16", "test"), Error);
  train::LmTrainOptions o;
  o.precision = "half";
  try {
    train::LmTrainer trainer(o, nullptr);
    ADD_FAILURE() << "an unknown precision was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("precision 'half'"), std::string::npos) << e.what();
  }
}

TEST(Autocast, LinearForwardMultipliesBf16Operands) {
  Generator gen(1);
  const LinearCase c = make_linear_case(gen);
  const Tensor y32 = linear(c.x, c.w, c.b).detach();
  Tensor y;
  {
    AutocastGuard guard(DType::bf16);
    y = linear(c.x, c.w, c.b);
  }
  EXPECT_EQ(y.dtype(), DType::f32);
  EXPECT_EQ(y.shape(), y32.shape());
  // The bias is added in f32, unrounded.
  const Tensor reference = f32(linear(rounded(c.x), rounded(c.w), f64(c.b)));
  EXPECT_LT(relative_error(y.detach(), reference), kF32Tight);
  const double vs_f32 = relative_error(y.detach(), y32);
  EXPECT_LT(vs_f32, kBf16Loose);
  EXPECT_GT(vs_f32, kBf16AtLeast) << "the operands were not rounded to bf16";
}

TEST(Autocast, BatchedMatmulMultipliesBf16Operands) {
  Generator gen(2);
  const Tensor a = Tensor::randn({2, 3, 17, 48}, gen);
  const Tensor b = Tensor::randn({2, 3, 48, 20}, gen);
  // Also a transposed view, as attention's q @ k^T passes it.
  const Tensor k = Tensor::randn({2, 3, 20, 48}, gen);
  const Tensor kt = k.transpose(-2, -1);
  for (const Tensor* rhs : {&b, &kt}) {
    const Tensor c32 = matmul(a, *rhs);
    Tensor c;
    {
      AutocastGuard guard(DType::bf16);
      c = matmul(a, *rhs);
    }
    EXPECT_EQ(c.dtype(), DType::f32);
    const Tensor reference = f32(matmul(rounded(a), rounded(*rhs)));
    EXPECT_LT(relative_error(c, reference), kF32Tight);
    const double vs_f32 = relative_error(c, c32);
    EXPECT_LT(vs_f32, kBf16Loose);
    EXPECT_GT(vs_f32, kBf16AtLeast);
  }
  // Rows of a stack against one matrix take the single-GEMM path.
  const Tensor w = Tensor::randn({48, 24}, gen);
  Tensor c;
  {
    AutocastGuard guard(DType::bf16);
    c = matmul(a, w);
  }
  EXPECT_LT(relative_error(c, f32(matmul(rounded(a), rounded(w)))), kF32Tight);
}

TEST(Autocast, LinearBackwardMultipliesBf16Gradients) {
  Generator gen(3);
  const LinearCase c = make_linear_case(gen);
  const LinearResult full = run_linear(c, false, false);
  // The backward runs outside the guard: the forward's setting is the one it uses.
  const LinearResult mixed = run_linear(c, true, false);
  for (const Tensor& g : {mixed.gx, mixed.gw, mixed.gb}) EXPECT_EQ(g.dtype(), DType::f32);

  // dX = dY @ W and dW = dY^T @ X, both on bf16-rounded operands; db sums the f32 gradient.
  const Tensor r2 = rounded(c.r).reshape({-1, 40}), x2 = rounded(c.x).reshape({-1, 96});
  EXPECT_LT(relative_error(mixed.gx, f32(matmul(r2, rounded(c.w)).reshape({3, 7, 96}))), kF32Tight);
  EXPECT_LT(relative_error(mixed.gw, f32(matmul(r2.transpose(0, 1), x2))), kF32Tight);
  EXPECT_LT(relative_error(mixed.gb, full.gb), 1e-6);

  for (const auto& [name, a, b] :
       {std::tuple{"dx", mixed.gx, full.gx}, std::tuple{"dW", mixed.gw, full.gw}}) {
    const double e = relative_error(a, b);
    EXPECT_LT(e, kBf16Loose) << name;
    EXPECT_GT(e, kBf16AtLeast) << name;
  }

  // Autocast switched on only for the backward changes nothing: the forward ran in f32.
  const LinearResult late = run_linear(c, false, true);
  EXPECT_EQ(relative_error(late.gx, full.gx), 0.0);
  EXPECT_EQ(relative_error(late.gw, full.gw), 0.0);
}

TEST(Autocast, MatmulBackwardMultipliesBf16Gradients) {
  Generator gen(4);
  Tensor a = Tensor::randn({2, 9, 32}, gen).set_requires_grad();
  Tensor b = Tensor::randn({2, 32, 12}, gen).set_requires_grad();
  const Tensor r = Tensor::randn({2, 9, 12}, gen);
  Tensor loss;
  {
    AutocastGuard guard(DType::bf16);
    loss = sum(mul(matmul(a, b), r));
  }
  loss.backward();
  const Tensor ga = a.grad(), gb = b.grad();
  const Tensor rr = rounded(r);
  EXPECT_LT(relative_error(ga, f32(matmul(rr, rounded(b).transpose(1, 2)))), kF32Tight);
  EXPECT_LT(relative_error(gb, f32(matmul(rounded(a).transpose(1, 2), rr))), kF32Tight);

  a.zero_grad();
  b.zero_grad();
  sum(mul(matmul(a, b), r)).backward();
  EXPECT_LT(relative_error(ga, a.grad()), kBf16Loose);
  EXPECT_GT(relative_error(ga, a.grad()), kBf16AtLeast);
  EXPECT_LT(relative_error(gb, b.grad()), kBf16Loose);
}

TEST(Autocast, LeavesF64Alone) {
  Generator gen(5);
  const Tensor x = Tensor::randn({4, 24}, gen, DType::f64).set_requires_grad();
  Tensor w = Tensor::randn({8, 24}, gen, DType::f64).set_requires_grad();
  const Tensor b = Tensor::randn({8}, gen, DType::f64);
  const Tensor m = Tensor::randn({24, 5}, gen, DType::f64);
  const std::vector<double> plain = linear(x, w, b).to_vector<double>();
  const std::vector<double> plain_mm = matmul(x, m).to_vector<double>();
  sum(linear(x, w, b)).backward();
  const std::vector<double> plain_gw = w.grad().to_vector<double>();
  w.zero_grad();
  AutocastGuard guard(DType::bf16);
  Tensor y = linear(x, w, b);
  EXPECT_EQ(y.dtype(), DType::f64);
  EXPECT_EQ(y.to_vector<double>(), plain);
  EXPECT_EQ(matmul(x, m).to_vector<double>(), plain_mm);
  sum(y).backward();
  EXPECT_EQ(w.grad().to_vector<double>(), plain_gw);
}

TEST(Autocast, SmallGptTrainsUnderBf16) {
  models::GptConfig c;
  c.block = 16;
  c.layers = 2;
  c.heads = 2;
  c.dim = 32;
  Generator init32(7), init16(7), data(8), unused(9);
  auto fp32 = train::make_language_model("gpt", c, init32);
  auto bf16 = train::make_language_model("gpt", c, init16);
  optim::AdamW opt32(fp32->named_parameters(), {3e-3, 0.9, 0.95, 1e-8, 0.0, 2});
  optim::AdamW opt16(bf16->named_parameters(), {3e-3, 0.9, 0.95, 1e-8, 0.0, 2});
  // One fixed batch of a repeating pattern: both should learn it quickly.
  std::vector<int64_t> tokens(4 * (c.block + 1));
  for (size_t i = 0; i < tokens.size(); ++i)
    tokens[i] = static_cast<int64_t>((i * 7 + (i / 17) * 3) % 23);
  const Tensor all = Tensor::from_vector(tokens, {4, c.block + 1});
  const Tensor x = all.slice(1, 0, c.block).contiguous();
  const Tensor y = all.slice(1, 1, c.block + 1).contiguous();
  std::vector<double> losses32, losses16;
  for (int step = 0; step < 20; ++step) {
    Tensor l32 = models::lm_loss(fp32->forward(x, unused), y);
    l32.backward();
    Tensor l16;
    {
      AutocastGuard guard(DType::bf16);
      l16 = models::lm_loss(bf16->forward(x, unused), y);
      l16.backward();
    }
    losses32.push_back(l32.item());
    losses16.push_back(l16.item());
    for (const auto& named : bf16->named_parameters())
      EXPECT_EQ(named.second.grad().dtype(), DType::f32) << named.first;
    opt32.step();
    opt16.step();
    opt32.zero_grad();
    opt16.zero_grad();
  }
  // Same start, so the first losses agree to bf16 rounding; then bf16 learns as f32 does.
  EXPECT_NEAR(losses16[0], losses32[0], 1e-2 * losses32[0]);
  EXPECT_NE(losses16[0], losses32[0]) << "the GPT's GEMMs did not run in bf16";
  EXPECT_LT(losses16.back(), 0.6 * losses16.front());
  EXPECT_NEAR(losses16.back(), losses32.back(), 1e-2 * losses32.back());
}

}  // namespace
}  // namespace octet
