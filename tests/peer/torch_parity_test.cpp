// octet's differentiable ops against PyTorch on the same inputs: forward values and the gradient
// of every float input under a fixed random upstream gradient, plus three AdamW steps. The inputs
// are drawn here, torch_parity.py computes torch's answers once for the whole suite (see
// tests/support/peer_python.h for the exchange and its cache, kept next to this executable in
// torch_parity_cache/), and each test compares one op family element by element:
// |octet - torch| <= 1e-5 * max(1, |torch|), reporting the worst element.
// Without the peer venv every test is skipped with the reason.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "framework/functional/arithmetic.h"
#include "framework/functional/conv.h"
#include "framework/functional/linear.h"
#include "framework/functional/norm.h"
#include "framework/functional/softmax.h"
#include "framework/optim/optimizer.h"
#include "tests/support/peer_python.h"

namespace octet {
namespace {

using testing::PeerCase;
using testing::PeerInput;
using Args = std::vector<Tensor>;
using Params = std::map<std::string, double>;
using OctetOp = std::function<Tensor(const Args&, const Params&)>;

constexpr double kTolerance = 1e-5;

// The AdamW comparison; octet skips weight decay below `decay_min_dim` dimensions while torch
// decays every parameter, so the octet side sets decay_min_dim = 1 to decay the bias too.
const Params kAdamW = {{"lr", 1e-2},  {"beta1", 0.9},        {"beta2", 0.95},
                       {"eps", 1e-8}, {"weight_decay", 0.1}, {"steps", 3}};

std::vector<PeerCase> build_cases() {
  Generator gen(20240611);
  std::vector<PeerCase> cases;
  auto f32 = [&](const Shape& shape, double scale = 1.0) {
    return Tensor::randn(shape, gen, DType::f32, scale);
  };
  auto i64 = [](const std::vector<int64_t>& v, const Shape& shape) {
    return Tensor::from_vector(v, shape);
  };
  // A differentiable case: `inputs` in the op's argument order, then the upstream gradient.
  auto add_case = [&](const std::string& name, const std::string& op, std::vector<PeerInput> inputs,
                      const Shape& out_shape, Params params = {}) {
    inputs.push_back({"grad_out", f32(out_shape), false});
    cases.push_back({name, op, std::move(inputs), std::move(params)});
  };

  add_case("linear", "linear",
           {{"x", f32({4, 7, 16}), true},
            {"weight", f32({24, 16}, 0.25), true},
            {"bias", f32({24}), true}},
           {4, 7, 24});
  add_case("matmul_transposed_b", "matmul",
           {{"a", f32({2, 3, 5, 6}), true}, {"b", f32({2, 3, 4, 6}), true}}, {2, 3, 5, 4},
           {{"transpose_b", 1}});
  add_case("matmul_transposed_a", "matmul",
           {{"a", f32({2, 3, 6, 5}), true}, {"b", f32({2, 3, 6, 4}), true}}, {2, 3, 5, 4},
           {{"transpose_a", 1}});
  add_case("softmax", "softmax", {{"x", f32({4, 7, 10}, 2.0), true}}, {4, 7, 10});
  add_case("log_softmax", "log_softmax", {{"x", f32({4, 7, 10}, 2.0), true}}, {4, 7, 10});
  add_case(
      "cross_entropy", "cross_entropy",
      {{"logits", f32({6, 10}, 2.0), true}, {"targets", i64({3, 0, -100, 9, 3, 7}, {6}), false}},
      {}, {{"ignore_index", -100}});
  // ignore_index may also name a real class: every row with target 1 drops out of the mean.
  add_case("cross_entropy_ignore_class", "cross_entropy",
           {{"logits", f32({6, 10}, 2.0), true}, {"targets", i64({1, 4, 1, 0, 2, 5}, {6}), false}},
           {}, {{"ignore_index", 1}});
  add_case("layer_norm", "layer_norm",
           {{"x", f32({4, 7, 16}, 2.0) + 0.5, true},
            {"weight", f32({16}, 0.2) + 1.0, true},
            {"bias", f32({16}, 0.2), true}},
           {4, 7, 16}, {{"eps", 1e-5}});
  add_case("rms_norm", "rms_norm",
           {{"x", f32({4, 7, 16}, 2.0), true}, {"weight", f32({16}, 0.2) + 1.0, true}}, {4, 7, 16},
           {{"eps", 1e-6}});
  add_case("gelu", "gelu", {{"x", f32({4, 7, 16}, 2.0), true}}, {4, 7, 16});
  add_case("silu", "silu", {{"x", f32({4, 7, 16}, 2.0), true}}, {4, 7, 16});
  add_case("conv2d_stride1_pad1", "conv2d",
           {{"x", f32({2, 3, 8, 8}), true},
            {"weight", f32({5, 3, 3, 3}, 0.3), true},
            {"bias", f32({5}), true}},
           {2, 5, 8, 8}, {{"stride", 1}, {"padding", 1}});
  add_case("conv2d_stride2_pad0", "conv2d",
           {{"x", f32({2, 3, 9, 9}), true},
            {"weight", f32({4, 3, 3, 3}, 0.3), true},
            {"bias", f32({4}), true}},
           {2, 4, 4, 4}, {{"stride", 2}, {"padding", 0}});
  // Normal draws: a tie inside a 2x2 window has probability ~0, so the arg-max is unambiguous.
  add_case("max_pool2d", "max_pool2d", {{"x", f32({2, 3, 8, 8}), true}}, {2, 3, 4, 4},
           {{"kernel", 2}, {"stride", 2}});
  // Repeated indices: their upstream gradients must add up in the same weight row.
  add_case("embedding", "embedding",
           {{"indices", i64({1, 4, 4, 0, 9, 4, 1, 1, 7, 2, 9, 9, 3, 4, 0}, {3, 5}), false},
            {"weight", f32({10, 6}), true}},
           {3, 5, 6});
  add_case("causal_attention", "causal_attention",
           {{"q", f32({2, 3, 8, 4}), true},
            {"k", f32({2, 3, 8, 4}), true},
            {"v", f32({2, 3, 8, 4}), true}},
           {2, 3, 8, 4});
  add_case("rope", "rope", {{"x", f32({2, 3, 8, 8}), true}}, {2, 3, 8, 8},
           {{"base", 10000}, {"offset", 0}});
  // 20 positions from offset 5 cross octet's table re-anchoring (every 16 positions).
  add_case("rope_offset", "rope", {{"x", f32({1, 2, 20, 6}), true}}, {1, 2, 20, 6},
           {{"base", 500}, {"offset", 5}});

  PeerCase adamw{"adamw", "adamw", {}, kAdamW};
  adamw.inputs.push_back({"param.w", f32({5, 4}), false});
  adamw.inputs.push_back({"param.b", f32({4}), false});
  for (int step = 1; step <= 3; ++step) {
    const std::string prefix = "step" + std::to_string(step) + ".";
    adamw.inputs.push_back({prefix + "w", f32({5, 4}, 0.5), false});
    adamw.inputs.push_back({prefix + "b", f32({4}, 0.5), false});
  }
  cases.push_back(std::move(adamw));
  return cases;
}

std::string index_str(const Shape& shape, int64_t flat) {
  std::string s;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    s = std::to_string(flat % shape[d]) + (s.empty() ? "" : ", ") + s;
    flat /= shape[d];
  }
  return "[" + s + "]";
}

class TorchParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    namespace fs = std::filesystem;
    cases() = build_cases();
    const fs::path cache = fs::read_symlink("/proc/self/exe").parent_path() / "torch_parity_cache";
    results() = testing::run_peer_script(fs::path(OCTET_SOURCE_DIR) / "tests/peer/torch_parity.py",
                                         cases(), cache);
  }

  void SetUp() override {
    if (!results().skip_reason.empty()) GTEST_SKIP() << results().skip_reason;
    ASSERT_TRUE(results().failure.empty()) << results().failure;
  }

  static std::vector<PeerCase>& cases() {
    static std::vector<PeerCase> all;
    return all;
  }
  static testing::PeerResults& results() {
    static testing::PeerResults r;
    return r;
  }

  static const PeerCase& find(const std::string& name) {
    for (const PeerCase& c : cases()) {
      if (c.name == name) return c;
    }
    throw std::runtime_error("no parity case named " + name);
  }
  static Tensor input(const PeerCase& c, const std::string& name) {
    for (const PeerInput& in : c.inputs) {
      if (in.name == name) return in.value;
    }
    throw std::runtime_error("parity case " + c.name + " has no input " + name);
  }

  // Compares octet's `value` with torch's <peer_name>.f32, element by element.
  static void expect_close(const Tensor& value, const std::string& peer_name) {
    std::vector<float> ref;
    std::string why;
    ASSERT_TRUE(testing::read_peer_f32(results().folder, peer_name, value.numel(), ref, why))
        << why;
    const std::vector<float> got = value.detach().contiguous().to_vector<float>();
    double worst = -1;
    int64_t at = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      double err = std::abs(double(got[i]) - ref[i]) / std::max(1.0, std::abs(double(ref[i])));
      if (!std::isfinite(err)) err = INFINITY;
      if (err > worst) worst = err, at = static_cast<int64_t>(i);
    }
    std::printf("[parity] %-40s worst %.2e\n", peer_name.c_str(), worst);
    EXPECT_LE(worst, kTolerance) << peer_name << ": worst element " << index_str(value.shape(), at)
                                 << " octet " << got[at] << " torch " << ref[at] << " (error "
                                 << worst << " > " << kTolerance << " * max(1, |torch|))";
  }

  // Runs `op` on fresh leaves of the case's inputs, back-propagates its upstream gradient, and
  // compares the output and every float input's gradient with torch's.
  static void expect_parity(const std::string& name, const OctetOp& op) {
    SCOPED_TRACE(name);
    const PeerCase& c = find(name);
    Args args;
    for (const PeerInput& in : c.inputs) {
      if (in.name == "grad_out") continue;
      Tensor leaf = in.value.clone();
      if (in.requires_grad) leaf.set_requires_grad();
      args.push_back(leaf);
    }
    const Tensor grad_out = input(c, "grad_out");
    const Tensor out = op(args, c.params);
    ASSERT_EQ(out.shape(), grad_out.shape()) << "octet's output is " << out.str();
    out.backward(grad_out);
    expect_close(out, name + ".out");
    for (size_t i = 0; i < args.size(); ++i) {
      if (!c.inputs[i].requires_grad) continue;
      ASSERT_TRUE(args[i].grad().defined()) << "no gradient for " << c.inputs[i].name;
      expect_close(args[i].grad(), name + ".grad." + c.inputs[i].name);
    }
  }
};

TEST_F(TorchParity, Linear) {
  expect_parity("linear", [](const Args& a, const Params&) { return linear(a[0], a[1], a[2]); });
}

// Batched products with one operand a transposed (non-contiguous) view.
TEST_F(TorchParity, BatchedMatmul) {
  expect_parity("matmul_transposed_b",
                [](const Args& a, const Params&) { return matmul(a[0], a[1].transpose(-1, -2)); });
  expect_parity("matmul_transposed_a",
                [](const Args& a, const Params&) { return matmul(a[0].transpose(-1, -2), a[1]); });
}

TEST_F(TorchParity, Softmax) {
  expect_parity("softmax", [](const Args& a, const Params&) { return softmax(a[0]); });
  expect_parity("log_softmax", [](const Args& a, const Params&) { return log_softmax(a[0]); });
}

TEST_F(TorchParity, CrossEntropy) {
  const OctetOp ce = [](const Args& a, const Params& p) {
    return cross_entropy(a[0], a[1], static_cast<int64_t>(p.at("ignore_index")));
  };
  expect_parity("cross_entropy", ce);
  expect_parity("cross_entropy_ignore_class", ce);
}

TEST_F(TorchParity, LayerNorm) {
  expect_parity("layer_norm", [](const Args& a, const Params& p) {
    return layer_norm(a[0], a[1], a[2], p.at("eps"));
  });
}

TEST_F(TorchParity, RmsNorm) {
  expect_parity("rms_norm",
                [](const Args& a, const Params& p) { return rms_norm(a[0], a[1], p.at("eps")); });
}

TEST_F(TorchParity, Gelu) {
  expect_parity("gelu", [](const Args& a, const Params&) { return gelu(a[0]); });
}

TEST_F(TorchParity, Silu) {
  expect_parity("silu", [](const Args& a, const Params&) { return silu(a[0]); });
}

TEST_F(TorchParity, Conv2d) {
  const OctetOp conv = [](const Args& a, const Params& p) {
    return conv2d(a[0], a[1], a[2], static_cast<int64_t>(p.at("stride")),
                  static_cast<int64_t>(p.at("padding")));
  };
  expect_parity("conv2d_stride1_pad1", conv);
  expect_parity("conv2d_stride2_pad0", conv);
}

TEST_F(TorchParity, MaxPool2d) {
  expect_parity("max_pool2d", [](const Args& a, const Params& p) {
    return max_pool2d(a[0], static_cast<int64_t>(p.at("kernel")),
                      static_cast<int64_t>(p.at("stride")));
  });
}

TEST_F(TorchParity, Embedding) {
  expect_parity("embedding", [](const Args& a, const Params&) { return embedding(a[0], a[1]); });
}

TEST_F(TorchParity, CausalAttention) {
  expect_parity("causal_attention",
                [](const Args& a, const Params&) { return causal_attention(a[0], a[1], a[2]); });
}

TEST_F(TorchParity, Rope) {
  const OctetOp op = [](const Args& a, const Params& p) {
    return rope(a[0], p.at("base"), static_cast<int64_t>(p.at("offset")));
  };
  expect_parity("rope", op);
  expect_parity("rope_offset", op);
}

TEST_F(TorchParity, AdamW) {
  const PeerCase& c = find("adamw");
  const Params& p = c.params;
  Tensor w = input(c, "param.w").clone(), b = input(c, "param.b").clone();
  optim::AdamWOptions options{p.at("lr"),  p.at("beta1"),        p.at("beta2"),
                              p.at("eps"), p.at("weight_decay"), /*decay_min_dim=*/1};
  optim::AdamW adamw({{"w", w}, {"b", b}}, options);
  for (int step = 1; step <= static_cast<int>(p.at("steps")); ++step) {
    const std::string prefix = "step" + std::to_string(step) + ".";
    w.set_grad(input(c, prefix + "w").clone());
    b.set_grad(input(c, prefix + "b").clone());
    adamw.step();
    expect_close(w, "adamw." + prefix + "w");
    expect_close(b, "adamw." + prefix + "b");
  }
}

}  // namespace
}  // namespace octet
