// GPT training on a GPU: one optimizer step of octet's GPT at GPT-2-small width (d 768, 12
// layers, 12 heads, context 512, byte vocabulary, batch 16, AdamW) on CUDA in FP32, TF32 and BF16
// autocast, against PyTorch on the same device (bench/peers/torch_cuda_gpt_train.py, the same
// model layer for layer), and the cost of FP8 QAT there: the BF16 step with every block Linear
// fake-quantized (scheme fp8_e4m3) against the plain BF16 step, the two trainers' steps alternating
// so drift hits both alike (issue 6's goal: QAT step <= 1.1x the plain step). A step ends with the
// loss on the host, so it includes waiting for the device. Random bytes stand in for text (the step
// time does not depend on the values). Prints OCTET_BENCH lines (bench/README.md); --quick takes
// fewer steps; --profile [scheme] runs one step for a profiler instead. Without a GPU it says it
// skipped and reports nothing.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "framework/data/text.h"
#include "framework/random.h"
#include "framework/train/language_model.h"
#include "ops/cuda/gemm.h"
#include "ops/cuda/runtime.h"
#include "ops/error.h"
#include "qat/prepare.h"
#include "qat/schemes.h"

namespace {

using namespace octet;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double step_ms(train::LmTrainer& t) {
  const auto t0 = Clock::now();
  t.step();  // returns the loss as a double: the device has finished the step
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Median step times of two trainers whose steps alternate.
std::pair<double, double> alternating_ms(train::LmTrainer& a, train::LmTrainer& b, int warmup,
                                         int timed) {
  for (int i = 0; i < warmup; ++i) step_ms(a), step_ms(b);
  std::vector<double> ta, tb;
  for (int i = 0; i < timed; ++i) ta.push_back(step_ms(a)), tb.push_back(step_ms(b));
  return {median(ta), median(tb)};
}

void row_vs_torch(const std::string& bench, double tokens_per_s, const std::string& key) {
  std::printf(
      "OCTET_BENCH {\"bench\": \"%s\", \"value\": %.6g, \"unit\": \"tokens/s\", \"better\": "
      "\"higher\", \"peer_key\": \"%s\"}\n",
      bench.c_str(), tokens_per_s, key.c_str());
  std::fflush(stdout);
}

std::string random_text(size_t bytes) {
  Generator gen(5);
  std::string s(bytes, '\0');
  for (char& c : s) c = static_cast<char>(gen.next_u64() & 0xff);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) quick = quick || std::strcmp(argv[i], "--quick") == 0;
  if (!cuda::available()) {
    std::printf("cuda_train_bench: skipped (%s)\n", cuda::compiled()
                                                        ? "no CUDA device on this machine"
                                                        : "octet was built without CUDA");
    return 0;
  }
  const bool profile = argc > 1 && std::strcmp(argv[1], "--profile") == 0;
  const int warmup = quick ? 2 : 3, timed = quick ? 4 : 10;
  train::LmTrainOptions o;
  o.model.vocab = 256;
  o.model.block = 512;
  o.model.layers = 12;
  o.model.heads = 12;
  o.model.dim = 768;
  o.batch = 16;
  o.lr = 3e-4;
  o.steps = 1 << 30;
  o.warmup = 0;
  o.device = Device{DeviceType::cuda, 0};
  auto text = std::make_shared<const TextDataset>(random_text(size_t{8} << 20));
  const double tokens = static_cast<double>(o.batch * o.model.block);

  if (profile) {
    // One BF16-autocast step (the scheme named by the next argument is applied if given) inside
    // the CUDA profiler's capture range, for `ncu --profile-from-start off ... --profile`.
    cuda::set_allow_tf32(true);
    o.precision = "bf16";
    if (argc > 2) {
      const std::string scheme = argv[2];
      o.prepare_model = [scheme](nn::Module& m) {
        qat::QatConfig config;
        config.layers = qat::scheme_config(scheme);
        qat::prepare(m, config);
      };
    }
    train::LmTrainer trainer(o, text);
    for (int i = 0; i < 2; ++i) step_ms(trainer);
    cuda::profiler_capture(true);
    const double ms = step_ms(trainer);
    cuda::profiler_capture(false);
    std::printf("cuda_train_bench: profiled step %.2f ms\n", ms);
    return 0;
  }

  // FP32 with full-precision GEMMs, with TF32 GEMMs, and BF16 autocast (matmul and linear in
  // bf16 with f32 results; what stays f32, attention's products among it, may use TF32): each
  // against torch in the same mode.
  for (const std::string mode : {"fp32", "tf32", "bf16"}) {
    cuda::set_allow_tf32(mode != "fp32");
    train::LmTrainOptions m = o;
    m.precision = mode == "bf16" ? "bf16" : "fp32";
    train::LmTrainer trainer(m, text);
    for (int i = 0; i < warmup; ++i) step_ms(trainer);
    std::vector<double> times;
    for (int i = 0; i < timed; ++i) times.push_back(step_ms(trainer));
    row_vs_torch("cuda_gpt_train_" + mode, tokens / (median(times) * 1e-3),
                 "torch_cuda_gpt_train_" + mode);
  }

  // FP8 QAT against the plain step, both under BF16 autocast (TF32 for the rest).
  cuda::set_allow_tf32(true);
  o.precision = "bf16";
  train::LmTrainOptions q = o;
  q.prepare_model = [](nn::Module& m) {
    qat::QatConfig config;
    config.layers = qat::scheme_config("fp8_e4m3");
    qat::prepare(m, config);
  };
  try {
    train::LmTrainer plain(o, text), quantized(q, text);
    const auto [plain_ms, qat_ms] = alternating_ms(plain, quantized, warmup, timed);
    std::printf(
        "OCTET_BENCH {\"bench\": \"cuda_qat_step_fp8\", \"value\": %.4g, \"unit\": \"ms\", "
        "\"better\": \"lower\", \"peer\": \"octet bf16 step\", \"peer_value\": %.4g}\n",
        qat_ms, plain_ms);
    row_vs_torch("cuda_qat_fp8_vs_torch", tokens / (qat_ms * 1e-3), "torch_cuda_gpt_qat_fp8_bf16");
  } catch (const Error& e) {
    std::printf("cuda_train_bench: FP8 QAT rows skipped: %s\n", e.what());
  }
  cuda::set_allow_tf32(false);
  return 0;
}
