// bf16 autocast on a GPU gives the CPU's autocast: linear and matmul (forward and backward) round
// the same operands to bf16 on both devices and accumulate in f32 (cuBLASLt's 32F compute, oneDNN's
// f32 accumulators), so they agree to f32 accumulation order; and a small GPT takes the same
// optimizer steps under bf16 on both devices, to bf16's tolerance. Inputs are synthetic.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "framework/autocast.h"
#include "framework/functional/arithmetic.h"
#include "framework/functional/linear.h"
#include "framework/models/gpt.h"
#include "framework/optim/optimizer.h"
#include "framework/train/language_model.h"
#include "tests/support/gpu_util.h"
#include "tests/support/lm_batches.h"
#include "tests/support/tensor_compare.h"

namespace octet {
namespace {

using testing::gpu0;

// Same bf16 operands and f32 accumulation on both devices: only the order of the sums differs.
constexpr double kSameBf16Products = 2e-5;
// A GEMM that did not round its operands to bf16 would be this close to the f32 result.
constexpr double kBf16AtLeast = 5e-4;

double rel(const Tensor& a, const Tensor& b) { return testing::relative_error(a.cpu(), b.cpu()); }

// Forward and the gradients of every input, on `device`, under autocast or not; loss = sum(y*r).
template <typename Op>
std::vector<Tensor> run(Op op, std::vector<Tensor> inputs, const Tensor& r, const Device& device,
                        bool autocast) {
  for (Tensor& t : inputs) t = t.to(device).detach().set_requires_grad();
  Tensor y;
  {
    AutocastGuard guard(DType::bf16, autocast);
    y = op(inputs);
  }
  sum(mul(y, r.to(device))).backward();  // after the guard: the forward's setting holds
  std::vector<Tensor> out{y.detach()};
  for (const Tensor& t : inputs) out.push_back(t.grad());
  return out;
}

template <typename Op>
void expect_devices_agree(const char* what, Op op, const std::vector<Tensor>& inputs,
                          const Tensor& r) {
  const auto cpu = run(op, inputs, r, Device{}, true);
  const auto gpu = run(op, inputs, r, gpu0(), true);
  const auto gpu32 = run(op, inputs, r, gpu0(), false);
  for (size_t i = 0; i < cpu.size(); ++i) {
    EXPECT_EQ(gpu[i].device(), gpu0()) << what << " output " << i;
    EXPECT_EQ(gpu[i].dtype(), DType::f32) << what << " output " << i;
    EXPECT_LT(rel(gpu[i], cpu[i]), kSameBf16Products) << what << " output " << i;
  }
  // The forward and the input gradient ran in bf16 on the GPU too (cuBLASLt's f32 is exact FP32).
  EXPECT_GT(rel(gpu[0], gpu32[0]), kBf16AtLeast) << what;
  EXPECT_GT(rel(gpu[1], gpu32[1]), kBf16AtLeast) << what;
}

TEST(CudaAutocast, LinearMatchesTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(1);
  const Tensor x = Tensor::randn({3, 7, 96}, gen);
  const Tensor w = Tensor::randn({40, 96}, gen, DType::f32, 0.1);
  const Tensor b = Tensor::randn({40}, gen);
  const Tensor r = Tensor::randn({3, 7, 40}, gen);
  expect_devices_agree(
      "linear", [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
      {x, w, b}, r);
}

TEST(CudaAutocast, BatchedMatmulMatchesTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(2);
  const Tensor a = Tensor::randn({2, 3, 17, 48}, gen);
  const Tensor b = Tensor::randn({2, 3, 48, 20}, gen);
  const Tensor r = Tensor::randn({2, 3, 17, 20}, gen);
  expect_devices_agree(
      "matmul", [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }, {a, b}, r);
  // q @ k^T: the right operand a transposed view.
  const Tensor k = Tensor::randn({2, 3, 20, 48}, gen);
  expect_devices_agree(
      "matmul k^T",
      [](const std::vector<Tensor>& in) { return matmul(in[0], in[1].transpose(-2, -1)); }, {a, k},
      r);
}

TEST(CudaAutocast, GptStepsTrackTheCpu) {
  OCTET_REQUIRE_GPU();
  const models::GptConfig c = testing::tiny_gpt_config();
  Generator init_cpu(1), init_gpu(1), data(2), unused(3);
  auto on_cpu = train::make_language_model("gpt", c, init_cpu);
  auto on_gpu = train::make_language_model("gpt", c, init_gpu);
  on_gpu->to(gpu0());
  optim::AdamW opt_cpu(on_cpu->named_parameters(), {1e-3, 0.9, 0.95, 1e-8, 0.1, 2});
  optim::AdamW opt_gpu(on_gpu->named_parameters(), {1e-3, 0.9, 0.95, 1e-8, 0.1, 2});
  for (int step = 0; step < 4; ++step) {
    const auto [x, y] = testing::random_lm_batch(data, 4, c.block);
    AutocastGuard guard(DType::bf16);
    Tensor loss_cpu = models::lm_loss(on_cpu->forward(x, unused), y);
    Tensor loss_gpu = models::lm_loss(on_gpu->forward(x.cuda(), unused), y.cuda());
    // Activations differ between devices in f32's last bits, which can flip an operand's bf16
    // rounding: agreement is to bf16's tolerance, not f32's.
    EXPECT_NEAR(loss_gpu.item(), loss_cpu.item(), 2e-3 * std::abs(loss_cpu.item()))
        << "step " << step;
    loss_cpu.backward();
    loss_gpu.backward();
    const double norm_cpu = optim::clip_grad_norm(on_cpu->parameters(), 1.0);
    const double norm_gpu = optim::clip_grad_norm(on_gpu->parameters(), 1.0);
    EXPECT_NEAR(norm_gpu, norm_cpu, 1e-2 * norm_cpu) << "step " << step;
    for (const auto& named : on_gpu->named_parameters())
      EXPECT_EQ(named.second.grad().dtype(), DType::f32) << named.first;
    opt_cpu.step();
    opt_gpu.step();
    opt_cpu.zero_grad();
    opt_gpu.zero_grad();
  }
  // The weight matrices end where the CPU's do, to bf16's tolerance: AdamW's normalised steps
  // turn the devices' bf16 rounding flips into differences of a few 1e-3 (at most 5.4e-3 on an
  // H100), so this bound is loose; the op tests above are the exact ones.
  const auto pc = on_cpu->named_parameters(), pg = on_gpu->named_parameters();
  for (size_t i = 0; i < pc.size(); ++i) {
    if (pc[i].second.dim() < 2) continue;
    EXPECT_LT(rel(pg[i].second, pc[i].second), 2e-2) << pc[i].first;
  }
}

}  // namespace
}  // namespace octet
