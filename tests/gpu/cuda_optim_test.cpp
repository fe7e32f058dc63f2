// Training on the GPU against the same training on the CPU: AdamW and SGD steps (with their state),
// gradient-norm clipping, Module::to moving a model under a live optimizer, and small MLPs trained
// for a few steps: one made of the elementwise ops and reductions alone, one of nn::Linear layers
// (cuBLASLt) moved to the GPU after its optimizer was built.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "framework/functional/arithmetic.h"
#include "framework/nn/layers.h"
#include "framework/nn/module.h"
#include "framework/optim/optimizer.h"
#include "framework/tensor/tensor.h"
#include "ops/cpu/optimizer_step.h"
#include "ops/cuda/optimizer_step.h"
#include "tests/gpu/cuda_elementwise_compare.h"
#include "tests/support/gpu_util.h"

namespace octet {
namespace {

using testing::all_close;
using testing::gpu0;
using testing::Tol;

// A weight, a bias and a buffer, plus a Linear child (its parameters are moved too).
class Tiny : public nn::Module {
 public:
  explicit Tiny(Generator& gen) {
    w = register_parameter("w", Tensor::randn({6, 5}, gen));
    b = register_parameter("b", Tensor::randn({5}, gen));
    register_buffer("steps", Tensor::full({1}, 3.0));
    fc = register_module("fc", std::make_shared<nn::Linear>(5, 4, true, gen));
  }
  std::string type_name() const override { return "Tiny"; }
  Tensor w, b;
  nn::Child<nn::Linear> fc;
};

// Parameters and buffers by name: what load_state needs.
nn::NamedTensors everything(const nn::Module& m) {
  nn::NamedTensors all = m.named_parameters();
  for (auto& nt : m.named_buffers()) all.push_back(nt);
  return all;
}

// Random gradients, the same values for the CPU model and (copied) for the GPU model.
void set_grads(const nn::NamedTensors& cpu_params, const nn::NamedTensors& gpu_params,
               Generator& gen) {
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    Tensor g = Tensor::randn(cpu_params[i].second.shape(), gen, DType::f32, 0.5);
    Tensor(cpu_params[i].second).set_grad(g);
    Tensor(gpu_params[i].second).set_grad(g.cuda());
  }
}

void expect_same_state(const optim::Optimizer& on_gpu, const optim::Optimizer& on_cpu, Tol tol,
                       const std::string& what) {
  for (size_t i = 0; i < on_cpu.params().size(); ++i)
    EXPECT_TRUE(all_close(on_gpu.params()[i].second, on_cpu.params()[i].second, tol))
        << what << " param " << on_cpu.params()[i].first;
  const nn::NamedTensors sg = on_gpu.state(), sc = on_cpu.state();
  ASSERT_EQ(sg.size(), sc.size());
  for (size_t i = 0; i < sc.size(); ++i) {
    EXPECT_EQ(sg[i].second.device(), gpu0()) << sg[i].first;
    EXPECT_TRUE(all_close(sg[i].second, sc[i].second, tol)) << what << " state " << sc[i].first;
  }
}

TEST(CudaOptim, AdamWAndSgdStepsMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(21);
  Tiny cpu_net(gen), gpu_net(gen);
  gpu_net.load_state(everything(cpu_net));
  gpu_net.to(gpu0());
  for (int kind = 0; kind < 3; ++kind) {
    std::unique_ptr<optim::Optimizer> oc, og;
    if (kind == 0) {
      optim::AdamWOptions o;
      o.lr = 1e-2;
      oc = std::make_unique<optim::AdamW>(cpu_net.named_parameters(), o);
      og = std::make_unique<optim::AdamW>(gpu_net.named_parameters(), o);
    } else {
      optim::SgdOptions o;
      o.lr = 0.05;
      o.weight_decay = 0.01;
      o.nesterov = kind == 2;
      oc = std::make_unique<optim::Sgd>(cpu_net.named_parameters(), o);
      og = std::make_unique<optim::Sgd>(gpu_net.named_parameters(), o);
    }
    for (int step = 0; step < 5; ++step) {
      set_grads(cpu_net.named_parameters(), gpu_net.named_parameters(), gen);
      oc->set_lr(oc->lr() * 0.9);
      og->set_lr(og->lr() * 0.9);
      oc->step();
      og->step();
      expect_same_state(*og, *oc, Tol{1e-5, 1e-6},
                        "optimizer " + std::to_string(kind) + " step " + std::to_string(step));
    }
  }
}

TEST(CudaOptim, SumOfSquaresAndClipGradNormMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(22);
  Tensor x = Tensor::randn({1000003}, gen);
  const double want = cpu::sum_of_squares(x.data<float>(), x.numel());
  Tensor xd = x.cuda();
  EXPECT_NEAR(cuda::sum_of_squares(static_cast<const float*>(xd.view().data), xd.numel(), 0), want,
              1e-12 * want);

  Tiny cpu_net(gen), gpu_net(gen);
  gpu_net.to(gpu0());
  set_grads(cpu_net.named_parameters(), gpu_net.named_parameters(), gen);
  // A strided gradient goes through contiguous() first.
  Tensor base = Tensor::randn({5, 6}, gen);
  cpu_net.w.set_grad(base.transpose(0, 1));
  gpu_net.w.set_grad(base.cuda().transpose(0, 1));
  for (double max_norm : {1e6, 0.5}) {  // no clipping, then clipping
    const double nc = optim::clip_grad_norm(cpu_net.parameters(), max_norm);
    const double ng = optim::clip_grad_norm(gpu_net.parameters(), max_norm);
    EXPECT_NEAR(ng, nc, 1e-12 * nc) << max_norm;
    for (size_t i = 0; i < cpu_net.parameters().size(); ++i) {
      EXPECT_EQ(gpu_net.parameters()[i].grad().device(), gpu0());
      EXPECT_TRUE(all_close(gpu_net.parameters()[i].grad(), cpu_net.parameters()[i].grad(),
                            Tol{1e-6, 1e-7}))
          << "param " << i << " max_norm " << max_norm;
    }
  }
}

// The clipping a GPU training step uses (no read-back) leaves every gradient bitwise as
// clip_grad_norm leaves it, including a gradient tensor two parameters share and a strided one.
TEST(CudaOptim, ClipGradNormNowaitEqualsClipGradNormBitwise) {
  OCTET_REQUIRE_GPU();
  Generator gen(31);
  for (double max_norm : {1e6, 0.5}) {  // no clipping, then clipping
    SCOPED_TRACE("max_norm " + std::to_string(max_norm));
    std::vector<Tensor> a, b;
    for (const Shape& shape : {Shape{300, 7}, Shape{1000}, Shape{5, 6}}) {
      a.push_back(Tensor::zeros(shape).cuda().set_requires_grad());
      b.push_back(Tensor::zeros(shape).cuda().set_requires_grad());
      const Tensor g = Tensor::randn(shape, gen).cuda();
      a.back().set_grad(g.clone());
      b.back().set_grad(g.clone());
    }
    const Tensor shared = Tensor::randn({300, 7}, gen).cuda();
    a.push_back(Tensor::zeros({300, 7}).cuda().set_requires_grad());
    b.push_back(Tensor::zeros({300, 7}).cuda().set_requires_grad());
    a[0].set_grad(shared.clone());
    a[3].set_grad(a[0].grad());  // one tensor, two parameters
    b[0].set_grad(shared.clone());
    b[3].set_grad(b[0].grad());
    const Tensor strided = Tensor::randn({6, 5}, gen).cuda();
    a[2].set_grad(strided.clone().transpose(0, 1));
    b[2].set_grad(strided.clone().transpose(0, 1));
    optim::clip_grad_norm(a, max_norm);
    optim::clip_grad_norm_nowait(b, max_norm);
    for (size_t i = 0; i < a.size(); ++i) {
      const std::vector<float> ga = a[i].grad().contiguous().to_vector<float>();
      const std::vector<float> gb = b[i].grad().contiguous().to_vector<float>();
      EXPECT_EQ(ga, gb) << "param " << i;
    }
  }
}

TEST(CudaModule, ToMovesParametersAndBuffersInPlace) {
  OCTET_REQUIRE_GPU();
  Generator gen(23);
  Tiny net(gen);
  const nn::NamedTensors before = net.named_parameters();
  std::vector<Tensor> host_copies;
  for (const auto& [name, t] : before) host_copies.push_back(t.clone());
  net.w.set_grad(Tensor::ones({6, 5}));
  optim::AdamW opt(net.named_parameters(), optim::AdamWOptions{});  // built before .to()

  net.to(gpu0());
  const nn::NamedTensors after = net.named_parameters();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_TRUE(after[i].second.same(before[i].second)) << after[i].first;  // same handle
    EXPECT_TRUE(opt.params()[i].second.same(after[i].second)) << after[i].first;
    EXPECT_EQ(after[i].second.device(), gpu0()) << after[i].first;
    EXPECT_TRUE(after[i].second.requires_grad()) << after[i].first;
    EXPECT_TRUE(all_close(after[i].second, host_copies[i], Tol{0, 0})) << after[i].first;
  }
  EXPECT_EQ(net.fc->weight().device(),
            gpu0());  // the Linear's own handle moved too
  EXPECT_EQ(net.named_buffers()[0].second.device(), gpu0());
  EXPECT_EQ(net.w.grad().device(), gpu0());

  // The optimizer built on the CPU now updates on the GPU; its state follows the parameters.
  for (const Tensor& p : net.parameters())
    Tensor(p).set_grad(Tensor::ones(p.shape(), DType::f32, gpu0()));
  opt.step();
  for (const auto& [name, s] : opt.state()) EXPECT_EQ(s.device(), gpu0()) << name;

  // And back: values survive the round trip, load_state copies across devices.
  net.to(Device{});
  EXPECT_EQ(net.w.device(), Device{});
  net.load_state(everything(Tiny(gen)));
  net.to(gpu0());
  Tiny reference(gen);
  net.load_state(everything(reference));
  EXPECT_TRUE(all_close(net.w, reference.w, Tol{0, 0}));
}

// y = gelu(x W1 + b1) W2 + b2, the products as broadcast multiplies and sums (no GEMM needed).
class Mlp : public nn::Module {
 public:
  explicit Mlp(Generator& gen) {
    w1 = register_parameter("w1", Tensor::randn({8, 16}, gen, DType::f32, 0.3));
    b1 = register_parameter("b1", Tensor::zeros({16}));
    w2 = register_parameter("w2", Tensor::randn({16, 4}, gen, DType::f32, 0.3));
    b2 = register_parameter("b2", Tensor::zeros({4}));
  }
  std::string type_name() const override { return "Mlp"; }
  static Tensor matmul(const Tensor& x, const Tensor& w) {
    const int64_t n = x.size(0), k = x.size(1), m = w.size(1);
    return sum(x.reshape({n, k, 1}) * w.reshape({1, k, m}), {1});
  }
  Tensor forward(const Tensor& x) const { return matmul(gelu(matmul(x, w1) + b1), w2) + b2; }
  Tensor w1, b1, w2, b2;
};

TEST(CudaTraining, MlpStepsMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(24);
  Mlp cpu_net(gen), gpu_net(gen);
  gpu_net.load_state(cpu_net.named_parameters());
  gpu_net.to(gpu0());
  optim::AdamWOptions o;
  o.lr = 1e-2;
  optim::AdamW oc(cpu_net.named_parameters(), o), og(gpu_net.named_parameters(), o);
  for (int step = 0; step < 4; ++step) {
    Tensor x = Tensor::randn({32, 8}, gen), target = Tensor::randn({32, 4}, gen);
    Tensor lc = mean(square(cpu_net.forward(x) - target));
    Tensor lg = mean(square(gpu_net.forward(x.cuda()) - target.cuda()));
    EXPECT_EQ(lg.device(), gpu0());
    EXPECT_NEAR(lg.item(), lc.item(), 1e-5 * std::abs(lc.item())) << "step " << step;
    oc.zero_grad();
    og.zero_grad();
    lc.backward();
    lg.backward();
    optim::clip_grad_norm(cpu_net.parameters(), 1.0);
    optim::clip_grad_norm(gpu_net.parameters(), 1.0);
    oc.step();
    og.step();
  }
  for (size_t i = 0; i < oc.params().size(); ++i)
    EXPECT_TRUE(all_close(og.params()[i].second, oc.params()[i].second, Tol{1e-4, 1e-5}))
        << oc.params()[i].first;
}

// The same with nn::Linear layers (cuBLASLt GEMMs on the GPU), the optimizer built before the model
// moves: its state follows the parameters at the first step.
class LinearMlp : public nn::Module {
 public:
  explicit LinearMlp(Generator& gen) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(8, 16, true, gen));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(16, 4, true, gen));
  }
  std::string type_name() const override { return "LinearMlp"; }
  Tensor forward(const Tensor& x) const { return fc2->forward(gelu(fc1->forward(x))); }
  nn::Child<nn::Linear> fc1, fc2;
};

TEST(CudaTraining, LinearMlpMovedAfterItsOptimizerTrainsLikeOnTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(25);
  LinearMlp cpu_net(gen), gpu_net(gen);
  gpu_net.load_state(cpu_net.named_parameters());
  optim::AdamWOptions o;
  o.lr = 1e-2;
  optim::AdamW oc(cpu_net.named_parameters(), o), og(gpu_net.named_parameters(), o);
  gpu_net.to(gpu0());
  for (int step = 0; step < 4; ++step) {
    Tensor x = Tensor::randn({32, 8}, gen), target = Tensor::randn({32, 4}, gen);
    Tensor lc = mean(square(cpu_net.forward(x) - target));
    Tensor lg = mean(square(gpu_net.forward(x.cuda()) - target.cuda()));
    EXPECT_EQ(lg.device(), gpu0());
    EXPECT_NEAR(lg.item(), lc.item(), 1e-5 * std::abs(lc.item())) << "step " << step;
    oc.zero_grad();
    og.zero_grad();
    lc.backward();
    lg.backward();
    oc.step();
    og.step();
  }
  for (const auto& [name, s] : og.state()) EXPECT_EQ(s.device(), gpu0()) << name;
  for (size_t i = 0; i < oc.params().size(); ++i)
    EXPECT_TRUE(all_close(og.params()[i].second, oc.params()[i].second, Tol{1e-4, 1e-5}))
        << oc.params()[i].first;
}

}  // namespace
}  // namespace octet
