// Data-parallel QAT is the training one process would do: 2 ranks x b rows give the parameters of
// 1 rank x 2b rows after K steps (relative error <= 1e-5 per tensor), with observer scales
// bitwise identical across ranks after every step. Runs as 2 ranks under mpirun; the one-process
// reference runs on each rank with a SingleProcessCommunicator.
//
// The residual: both runs compute the same sums in different orders (one GEMM over 2b rows vs
// two over b, then an all-reduce), so gradients differ in their last bits. In FP32 and FP8 that
// stays near rounding (measured 2026-11-24: 8e-7 FP32, 2e-6 FP8 E4M3 after 6 steps). INT8
// fake-quant amplifies it: its rounding is a step function with 255 levels, so once the weights
// differ in the last bit a few activations that sat on a rounding boundary fall into the
// neighbouring integer bin in one run and not the other, each moving by a whole quantization
// step, and AdamW turns those gradient changes into weight changes (measured: 6e-5 on the CNN,
// 3e-5 on the GPT). Observer scales stay bitwise identical across ranks all the same, which is
// what makes the ranks' models one model. INT8 runs are held to 1e-4, the others to 1e-5.
#include <gtest/gtest.h>

#include "../support/dist_util.h"
#include "framework/data/text.h"
#include "framework/train/image_classifier.h"
#include "framework/train/language_model.h"
#include "qat/prepare.h"
#include "qat/schemes.h"

namespace octet {
namespace {

constexpr int64_t kSteps = 6;

double tolerance(const std::string& scheme) { return scheme == "w8a8" ? 1e-4 : 1e-5; }

struct CnnRun {
  nn::NamedTensors params;
  int64_t steps = 0;
  int64_t buffers_differing = 0;  // summed over steps
  int64_t observers_seen = 0;     // buffers that hold statistics after the run
};

CnnRun train_cnn_qat(parallel::Communicator& comm, const std::string& scheme) {
  train::CnnTrainOptions o;
  o.epochs = 1;
  o.batch = 64;  // global: 32 per rank with 2 ranks
  o.train_limit = o.batch * kSteps;
  o.test_limit = 200;
  o.seed = 5;
  o.warmup = 2;
  o.communicator = &comm;
  o.data_parallel.bucket_bytes = 64 << 10;  // several buckets for the CNN's 0.4M parameters
  models::CnnConfig config;
  config.dropout = 0;  // dropout masks are per rank by design: compare without them
  Generator init(o.seed);
  models::Cnn model(config, init);
  if (scheme != "fp32") {
    qat::QatConfig qc;
    qc.layers = qat::scheme_config(scheme);
    qat::prepare(model, qc);
  }
  CnnRun run;
  o.after_step = [&](const train::StepReport&) {
    run.buffers_differing += testing::differing_across_ranks(model.named_buffers(), comm);
  };
  run.steps = train::train_cnn(o, &model).steps;
  run.params = model.named_parameters();
  for (const auto& [name, t] : model.named_buffers())
    if (name.find("observed") != std::string::npos && t.item() == 1.0) ++run.observers_seen;
  return run;
}

class DataParallelQatCnn : public ::testing::TestWithParam<std::string> {};

TEST_P(DataParallelQatCnn, TwoRanksOfBTrainLikeOneRankOf2B) {
  parallel::Communicator& world = testing::dist_world();
  ASSERT_EQ(world.size(), 2);
  parallel::SingleProcessCommunicator single;
  const CnnRun reference = train_cnn_qat(single, GetParam());
  const CnnRun distributed = train_cnn_qat(world, GetParam());
  ASSERT_EQ(distributed.steps, kSteps);
  if (GetParam() != "fp32") {
    EXPECT_GT(distributed.observers_seen, 0);
  }
  EXPECT_EQ(distributed.buffers_differing, 0) << "observer buffers differ across ranks";
  EXPECT_EQ(testing::differing_across_ranks(distributed.params, world), 0);
  std::string worst;
  const double rel = testing::max_relative_difference(distributed.params, reference.params, &worst);
  std::printf("rank %d, %s: max relative parameter difference after %lld steps: %.3g (%s)\n",
              world.rank(), GetParam().c_str(), static_cast<long long>(kSteps), rel, worst.c_str());
  EXPECT_LE(rel, tolerance(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(Schemes, DataParallelQatCnn,
                         ::testing::Values("fp32", "w8a8", "fp8_e4m3"));

TEST(DataParallelQatLm, TwoRanksOfBTrainLikeOneRankOf2B) {
  parallel::Communicator& world = testing::dist_world();
  auto text = std::make_shared<const TextDataset>(load_kjv_text());
  auto run = [&](parallel::Communicator& comm, int64_t& differing) {
    train::LmTrainOptions o;
    o.model.dim = 32;
    o.model.layers = 1;
    o.model.heads = 2;
    o.model.block = 16;
    o.batch = 8;
    o.steps = kSteps;
    o.warmup = 2;
    o.communicator = &comm;
    o.prepare_model = [](nn::Module& m) {
      qat::QatConfig qc;
      qc.layers = qat::scheme_config("w8a8");
      qat::prepare(m, qc);
    };
    train::LmTrainer trainer(o, text);
    while (trainer.steps_done() < o.steps) {
      trainer.step();
      differing += testing::differing_across_ranks(trainer.model().named_buffers(), comm);
    }
    const double val = trainer.validation_loss();
    EXPECT_TRUE(std::isfinite(val));
    return trainer.model().named_parameters();
  };
  int64_t unused = 0, differing = 0;
  parallel::SingleProcessCommunicator single;
  const nn::NamedTensors reference = run(single, unused);
  const nn::NamedTensors distributed = run(world, differing);
  EXPECT_EQ(differing, 0);
  const double rel = testing::max_relative_difference(distributed, reference);
  std::printf("rank %d, gpt w8a8: max relative parameter difference after %lld steps: %.3g\n",
              world.rank(), static_cast<long long>(kSteps), rel);
  EXPECT_LE(rel, tolerance("w8a8"));
}

}  // namespace
}  // namespace octet
