// The cost of QAT: one training step of the benchmark GPT (d 256, 4 layers, T 128, batch 16,
// AdamW) with every Linear but lm_head fake-quantized, against the same step in FP32, measured
// side by side in this binary at 2 threads. Goal (issue 3): QAT step / FP32 step <= 1.10.
// Prints OCTET_BENCH lines (bench/README.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "framework/data/text.h"
#include "framework/train/language_model.h"
#include "ops/cpu/gemm.h"
#include "qat/prepare.h"
#include "qat/schemes.h"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double step_ms(octet::train::LmTrainOptions o,
               const std::shared_ptr<const octet::TextDataset>& text, int warmup, int timed) {
  octet::train::LmTrainer trainer(o, text);
  for (int i = 0; i < warmup; ++i) trainer.step();
  std::vector<double> times;
  for (int i = 0; i < timed; ++i) {
    const auto t0 = Clock::now();
    trainer.step();
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count() * 1e3);
  }
  return median(times);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) quick = quick || std::strcmp(argv[i], "--quick") == 0;
  const int warmup = 3, timed = quick ? 5 : 15;
  octet::cpu::set_num_threads(2);

  octet::train::LmTrainOptions o;
  o.batch = 16;
  o.lr = 3e-4;
  o.steps = 1 << 30;
  o.warmup = 0;
  auto text = std::make_shared<const octet::TextDataset>(octet::load_kjv_text());

  // Interleaved (fp32, scheme, fp32, scheme...) would be fairer to drift; one FP32 figure per
  // scheme, measured right before it, keeps each ratio a side-by-side pair.
  for (const std::string scheme : {"w8a8", "fp8_e4m3"}) {
    const double fp32 = step_ms(o, text, warmup, timed);
    octet::train::LmTrainOptions q = o;
    q.prepare_model = [&](octet::nn::Module& m) {
      octet::qat::QatConfig config;
      config.layers = octet::qat::scheme_config(scheme);
      octet::qat::prepare(m, config);
    };
    const double qat = step_ms(q, text, warmup, timed);
    std::printf(
        "OCTET_BENCH {\"bench\": \"qat_step_%s\", \"value\": %.4g, \"unit\": \"ms\", "
        "\"better\": \"lower\", \"peer\": \"octet fp32 step\", \"peer_value\": %.4g}\n",
        scheme.c_str(), qat, fp32);
    std::fflush(stdout);
  }
  return 0;
}
