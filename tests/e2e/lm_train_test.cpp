// Byte-level language models learn the King James text, and training resumes bitwise from a
// checkpoint. The full-size run (val loss <= 1.5 nats/byte) is `octet train lm` in the README.
#include <gtest/gtest.h>

#include <filesystem>

#include "framework/train/language_model.h"

namespace octet {
namespace {

std::shared_ptr<const TextDataset> kjv() {
  static auto text = std::make_shared<const TextDataset>(load_kjv_text());
  return text;
}

train::LmTrainOptions small(const std::string& arch, int64_t steps) {
  train::LmTrainOptions o;
  o.arch = arch;
  o.model.dim = 128;
  o.model.layers = 2;
  o.model.heads = 4;
  o.model.block = 64;
  o.batch = 16;
  o.steps = steps;
  o.warmup = 20;
  o.lr = 2e-3;
  o.eval_windows = 32;
  return o;
}

TEST(LmTraining, SmallGptBeatsTheUnigramBaseline) {
  train::LmTrainer t(small("gpt", 300), kjv());
  const double before = t.validation_loss();
  EXPECT_NEAR(before, std::log(256.0), 0.3) << "an untrained model predicts ~uniform bytes";
  while (t.steps_done() < 300) t.step();
  const double after = t.validation_loss();
  std::printf("gpt val loss %.3f -> %.3f nats/byte\n", before, after);
  // A unigram byte model scores ~3.0 nats/byte on this text; context must beat it clearly.
  EXPECT_LT(after, 2.4);
}

TEST(LmTraining, SmallLlamaLearns) {
  train::LmTrainer t(small("llama", 150), kjv());
  const double before = t.validation_loss();
  while (t.steps_done() < 150) t.step();
  const double after = t.validation_loss();
  std::printf("llama val loss %.3f -> %.3f nats/byte\n", before, after);
  EXPECT_LT(after, 2.8);
}

TEST(LmTraining, ResumeFromCheckpointIsBitwiseIdentical) {
  auto o = small("gpt", 12);
  o.model.dim = 64;
  o.model.block = 32;
  o.model.dropout = 0.1;  // the dropout generator must be restored too
  train::LmTrainer straight(o, kjv());
  for (int i = 0; i < 12; ++i) straight.step();

  const std::string path = (std::filesystem::temp_directory_path() /
                            ("octet_resume_" + std::to_string(::getpid()) + ".ckpt"))
                               .string();
  train::LmTrainer first(o, kjv());
  for (int i = 0; i < 7; ++i) first.step();
  first.save(path);
  auto o2 = o;
  o2.seed = 12345;  // a different init and data stream, all overwritten by the checkpoint
  train::LmTrainer resumed(o2, kjv());
  resumed.load(path);
  std::filesystem::remove(path);
  EXPECT_EQ(resumed.steps_done(), 7);
  for (int i = 0; i < 5; ++i) resumed.step();

  auto a = straight.model().named_parameters(), b = resumed.model().named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i].second.to_vector<float>(), b[i].second.to_vector<float>()) << a[i].first;
}

}  // namespace
}  // namespace octet
