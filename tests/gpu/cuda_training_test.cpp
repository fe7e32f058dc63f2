// Training on a GPU gives the CPU's training: a GPT and a LLaMA-style decoder (embedding, norms,
// attention, GELU/SwiGLU, cross-entropy, AdamW with clipping) and the Fashion-MNIST CNN (conv,
// pooling, dropout off) take the same optimizer steps on both devices from the same weights and
// data, and a checkpoint written from the GPU loads on the host. Inputs are synthetic so the test
// runs on a GPU machine without Debian's data packages.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "framework/functional/softmax.h"
#include "framework/io/checkpoint.h"
#include "framework/models/cnn.h"
#include "framework/models/gpt.h"
#include "framework/optim/optimizer.h"
#include "framework/train/language_model.h"
#include "tests/support/gpu_util.h"
#include "tests/support/lm_batches.h"
#include "tests/support/tensor_compare.h"

namespace octet {
namespace {

using testing::gpu0;

// The parameter of two models (same names) whose values differ most, relatively.
//
// The key third of a fused qkv bias is left out: adding a constant vector to every key adds the
// same q.b to each score of a query, which softmax ignores, so that bias's true gradient is zero
// and what each device computes for it is rounding noise. AdamW divides by sqrt(v) + eps and so
// turns noise of ~1e-9 into steps of ~0.1 lr that differ between devices; the query and value
// thirds carry real gradients and are compared.
struct WorstParameter {
  std::string name;
  double error = 0;
};
WorstParameter worst_parameter(const nn::Module& a, const nn::Module& b) {
  WorstParameter worst;
  auto consider = [&](const std::string& name, const Tensor& x, const Tensor& y) {
    const double e = testing::relative_error(y.cpu(), x.cpu());
    if (e > worst.error) worst = {name, e};
  };
  const nn::NamedTensors pa = a.named_parameters(), pb = b.named_parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    const std::string& name = pa[i].first;
    const Tensor &x = pa[i].second, &y = pb[i].second;
    const bool qkv_bias = name.size() >= 13 && name.ends_with("attn.qkv.bias");
    if (!qkv_bias) {
      consider(name, x, y);
      continue;
    }
    const int64_t third = x.shape()[0] / 3;
    consider(name + " (query third)", x.slice(0, 0, third), y.slice(0, 0, third));
    consider(name + " (value third)", x.slice(0, 2 * third, 3 * third),
             y.slice(0, 2 * third, 3 * third));
  }
  return worst;
}

void expect_lm_steps_match(const std::string& arch) {
  const models::GptConfig c = testing::tiny_gpt_config();
  Generator init_cpu(1), init_gpu(1), data(2), unused(3);
  auto on_cpu = train::make_language_model(arch, c, init_cpu);
  auto on_gpu = train::make_language_model(arch, c, init_gpu);
  on_gpu->to(gpu0());
  optim::AdamW opt_cpu(on_cpu->named_parameters(), {1e-3, 0.9, 0.95, 1e-8, 0.1, 2});
  optim::AdamW opt_gpu(on_gpu->named_parameters(), {1e-3, 0.9, 0.95, 1e-8, 0.1, 2});
  for (int step = 0; step < 4; ++step) {
    const auto [x, y] = testing::random_lm_batch(data, 4, c.block);
    Tensor loss_cpu = models::lm_loss(on_cpu->forward(x, unused), y);
    Tensor loss_gpu = models::lm_loss(on_gpu->forward(x.cuda(), unused), y.cuda());
    EXPECT_EQ(loss_gpu.device(), gpu0());
    EXPECT_NEAR(loss_gpu.item(), loss_cpu.item(), 1e-4 * std::abs(loss_cpu.item()))
        << arch << " step " << step;
    loss_cpu.backward();
    loss_gpu.backward();
    const double norm_cpu = optim::clip_grad_norm(on_cpu->parameters(), 1.0);
    const double norm_gpu = optim::clip_grad_norm(on_gpu->parameters(), 1.0);
    EXPECT_NEAR(norm_gpu, norm_cpu, 1e-4 * norm_cpu) << arch << " step " << step;
    opt_cpu.step();
    opt_gpu.step();
    opt_cpu.zero_grad();
    opt_gpu.zero_grad();
  }
  const WorstParameter worst = worst_parameter(*on_cpu, *on_gpu);
  EXPECT_LT(worst.error, 1e-4) << arch << ": " << worst.name;
}

TEST(CudaTraining, GptStepsMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  expect_lm_steps_match("gpt");
}

TEST(CudaTraining, LlamaStepsMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  expect_lm_steps_match("llama");
}

TEST(CudaTraining, CnnStepsMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  models::CnnConfig c;
  c.dropout = 0;  // masks are drawn alike on both devices, but this keeps the test about the math
  Generator init_cpu(1), init_gpu(1), data(2), unused(3);
  models::Cnn on_cpu(c, init_cpu), on_gpu(c, init_gpu);
  on_gpu.to(gpu0());
  optim::AdamW opt_cpu(on_cpu.named_parameters(), {2e-3, 0.9, 0.999, 1e-8, 1e-4, 2});
  optim::AdamW opt_gpu(on_gpu.named_parameters(), {2e-3, 0.9, 0.999, 1e-8, 1e-4, 2});
  for (int step = 0; step < 3; ++step) {
    const Tensor x = Tensor::randn({16, 1, 28, 28}, data);
    std::vector<int64_t> labels(16);
    for (auto& l : labels) l = static_cast<int64_t>(data.uniform() * 9.999);
    const Tensor y = Tensor::from_vector(labels, {16});
    Tensor loss_cpu = cross_entropy(on_cpu.forward(x, unused), y);
    Tensor loss_gpu = cross_entropy(on_gpu.forward(x.cuda(), unused), y.cuda());
    EXPECT_NEAR(loss_gpu.item(), loss_cpu.item(), 1e-4 * std::abs(loss_cpu.item()));
    loss_cpu.backward();
    loss_gpu.backward();
    opt_cpu.step();
    opt_gpu.step();
    opt_cpu.zero_grad();
    opt_gpu.zero_grad();
  }
  const WorstParameter worst = worst_parameter(on_cpu, on_gpu);
  EXPECT_LT(worst.error, 1e-4) << worst.name;
}

TEST(CudaTraining, CheckpointFromTheGpuLoadsOnTheHost) {
  OCTET_REQUIRE_GPU();
  Generator a(1), b(2);
  models::Cnn trained({}, a), fresh({}, b);
  trained.to(gpu0());
  optim::AdamW opt(trained.named_parameters(), {});
  const std::string path =
      (std::filesystem::temp_directory_path() / "octet_cuda_checkpoint.ckpt").string();
  io::TrainingState save_state{&trained, &opt, {}, 7, {}};
  io::save_checkpoint(path, save_state);
  io::TrainingState load_state{&fresh, nullptr, {}, 0, {}};
  io::load_checkpoint(path, load_state);
  EXPECT_EQ(load_state.step, 7);
  EXPECT_EQ(worst_parameter(fresh, trained).error, 0.0);
  // And back onto the GPU: restoring into device tensors copies host to device.
  models::Cnn again({}, b);
  again.to(gpu0());
  io::TrainingState gpu_state{&again, nullptr, {}, 0, {}};
  io::load_checkpoint(path, gpu_state);
  EXPECT_EQ(worst_parameter(again, trained).error, 0.0);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace octet
