// QAT on a byte-level GPT, end to end on the King James text: a small GPT is trained and
// checkpointed, then INT8 W8A8 and FP8 E4M3 are applied by PTQ and by QAT fine-tuning from that
// checkpoint. QAT must stay within 1% of the FP32 model fine-tuned for the same steps (the
// control), PTQ within 2% of the FP32 model. The full-size table is `octet qat lm` (README).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "qat/lm_experiment.h"

namespace octet {
namespace {

TEST(QatLm, Int8AndFp8StayWithinOnePercentOfTheFp32Control) {
  auto text = std::make_shared<const TextDataset>(load_kjv_text());
  train::LmTrainOptions o;
  o.model.dim = 128;
  o.model.layers = 2;
  o.model.heads = 4;
  o.model.block = 64;
  o.batch = 16;
  o.steps = 300;
  o.warmup = 20;
  o.lr = 2e-3;
  o.eval_windows = 128;
  train::LmTrainer base(o, text);
  while (base.steps_done() < o.steps) base.step();
  const std::string path =
      (std::filesystem::temp_directory_path() / ("qat_lm_test_" + std::to_string(::getpid())))
          .string();
  base.save(path);

  qat::LmQuantOptions q;
  q.model = o;
  q.checkpoint = path;
  q.finetune_steps = 60;
  q.finetune_lr = 5e-4;
  q.log = [](const std::string& s) { std::printf("%s\n", s.c_str()); };
  std::map<std::string, double> loss;
  for (const qat::LmQuantRow& r : qat::compare_lm_quantization(text, q)) {
    loss[r.method + (r.scheme.empty() ? "" : " " + r.scheme)] = r.val_loss;
  }
  std::filesystem::remove(path);
  const double control = loss.at("fp32_finetune"), fp32 = loss.at("fp32");
  EXPECT_LE(loss.at("qat w8a8"), control * 1.01);
  EXPECT_LE(loss.at("qat fp8_e4m3"), control * 1.01);
  EXPECT_LE(loss.at("ptq w8a8"), fp32 * 1.02);
  EXPECT_LE(loss.at("ptq fp8_e4m3"), fp32 * 1.02);
}

}  // namespace
}  // namespace octet
