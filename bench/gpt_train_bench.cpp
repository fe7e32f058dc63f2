// Training throughput of the benchmark GPT (vocab 256, d 256, 4 layers, 4 heads, T 128, batch 16,
// AdamW) at 1 and 2 threads, in FP32 and under bf16 autocast, next to PyTorch's measurement from
// bench/peers/torch_gpt_train.py in the same `make bench` run, plus model FLOPs utilisation against
// oneDNN's sgemm rate measured here. Prints OCTET_BENCH lines (bench/README.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "framework/data/text.h"
#include "framework/train/language_model.h"
#include "ops/cpu/gemm.h"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// oneDNN's own f32 GEMM rate at a shape the model's linears are made of (B*T x 4d x d).
double sgemm_gflops(int reps) {
  const int64_t M = 2048, N = 1024, K = 256;
  std::vector<float> a(M * K, 0.5f), b(K * N, 0.25f), c(M * N);
  octet::View va{a.data(), octet::DType::f32, {}, {M, K}, {K, 1}};
  octet::View vb{b.data(), octet::DType::f32, {}, {K, N}, {N, 1}};
  octet::View vc{c.data(), octet::DType::f32, {}, {M, N}, {N, 1}};
  octet::cpu::matmul(va, vb, vc);
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    octet::cpu::matmul(va, vb, vc);
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return 2.0 * M * N * K / median(times) / 1e9;
}

void emit(const std::string& bench, double value, const char* unit, const std::string& peer,
          const std::string& peer_key_or_value, bool is_key) {
  std::printf(
      "OCTET_BENCH {\"bench\": \"%s\", \"value\": %.6g, \"unit\": \"%s\", \"better\": \"higher\", "
      "\"peer\": \"%s\", \"%s\": %s}\n",
      bench.c_str(), value, unit, peer.c_str(), is_key ? "peer_key" : "peer_value",
      peer_key_or_value.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) quick = quick || std::strcmp(argv[i], "--quick") == 0;
  const int warmup = 3, timed = quick ? 5 : 15;

  octet::train::LmTrainOptions o;  // the benchmark GPT is the default config
  o.batch = 16;
  o.lr = 3e-4;
  o.steps = 1 << 30;
  o.warmup = 0;
  auto text = std::make_shared<const octet::TextDataset>(octet::load_kjv_text());

  // Median tokens/s of LmTrainer steps in `precision` ("fp32" or "bf16" autocast).
  auto measure = [&](const std::string& precision) {
    octet::train::LmTrainOptions p = o;
    p.precision = precision;
    octet::train::LmTrainer trainer(p, text);
    for (int i = 0; i < warmup; ++i) trainer.step();
    std::vector<double> times;
    for (int i = 0; i < timed; ++i) {
      const auto t0 = Clock::now();
      trainer.step();
      times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    return static_cast<double>(o.batch * o.model.block) / median(times);
  };

  for (int threads : {1, 2}) {
    octet::cpu::set_num_threads(threads);
    const double tokens_per_s = measure("fp32");
    const std::string t = std::to_string(threads) + "t";
    emit("gpt_train_step_" + t, tokens_per_s, "tokens/s", "pytorch fp32 eager",
         "\"torch_gpt_train_fp32_" + t + "\"", true);
    emit("gpt_vs_torch_bf16_" + t, tokens_per_s, "tokens/s", "pytorch bf16 autocast",
         "\"torch_gpt_train_bf16_" + t + "\"", true);
    // Like for like: octet's own bf16 autocast against torch's.
    emit("gpt_train_bf16_" + t, measure("bf16"), "tokens/s", "pytorch bf16 autocast",
         "\"torch_gpt_train_bf16_" + t + "\"", true);

    // Model FLOPs: 6 per parameter per token (forward + backward) for every matrix the tokens
    // pass through (embeddings are lookups), plus attention's scores and mixing, 12 * L * T * d.
    const auto& c = o.model;
    const double matrix_params =
        static_cast<double>(c.layers) * 12.0 * c.dim * c.dim + static_cast<double>(c.dim) * c.vocab;
    const double flops_per_token = 6.0 * matrix_params + 12.0 * c.layers * c.block * c.dim;
    const double model_gflops = flops_per_token * tokens_per_s / 1e9;
    const double sgemm = sgemm_gflops(quick ? 5 : 20);
    char peer_value[64];
    std::snprintf(peer_value, sizeof(peer_value), "%.6g", sgemm);
    emit("gpt_mfu_" + t, model_gflops, "GFLOP/s", "oneDNN sgemm 2048x1024x256", peer_value, false);
  }
  return 0;
}
