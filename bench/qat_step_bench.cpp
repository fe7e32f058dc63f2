// The cost of QAT: one training step of the benchmark GPT (d 256, 4 layers, T 128, batch 16,
// AdamW) with every Linear but lm_head fake-quantized, against the same step in FP32, measured
// side by side in this binary at 2 threads, their steps alternating. Goal (issue 3): QAT step /
// FP32 step <= 1.10. Prints OCTET_BENCH lines (bench/README.md).
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

// Median step times of two trainers whose steps alternate, so that drift in the machine's speed
// (which moves single runs here by 10-15%) hits both sides alike.
std::pair<double, double> alternating_step_ms(octet::train::LmTrainer& a,
                                              octet::train::LmTrainer& b, int warmup, int timed) {
  for (int i = 0; i < warmup; ++i) a.step(), b.step();
  std::vector<double> ta, tb;
  for (int i = 0; i < timed; ++i) {
    for (auto [trainer, times] : {std::pair{&a, &ta}, std::pair{&b, &tb}}) {
      const auto t0 = Clock::now();
      trainer->step();
      times->push_back(std::chrono::duration<double>(Clock::now() - t0).count() * 1e3);
    }
  }
  return {median(ta), median(tb)};
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

  for (const std::string scheme : {"w8a8", "fp8_e4m3"}) {
    octet::train::LmTrainOptions q = o;
    q.prepare_model = [&](octet::nn::Module& m) {
      octet::qat::QatConfig config;
      config.layers = octet::qat::scheme_config(scheme);
      octet::qat::prepare(m, config);
    };
    octet::train::LmTrainer fp32_trainer(o, text), qat_trainer(q, text);
    const auto [fp32, qat] = alternating_step_ms(fp32_trainer, qat_trainer, warmup, timed);
    // INT8 W8A8 is the headline row the goal reads; other schemes carry their name.
    const std::string bench_name = scheme == "w8a8" ? "qat_step" : "qat_step_" + scheme;
    std::printf(
        "OCTET_BENCH {\"bench\": \"%s\", \"value\": %.4g, \"unit\": \"ms\", "
        "\"better\": \"lower\", \"peer\": \"octet fp32 step\", \"peer_value\": %.4g}\n",
        bench_name.c_str(), qat, fp32);
    std::fflush(stdout);
  }
  return 0;
}
