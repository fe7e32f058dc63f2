// The comparison experiments behind `octet compare` (qat/cnn_experiment.h, qat/lm_experiment.h)
// take each scheme's QatConfig from a hook and an optional QAT schedule, which is how a recipe's
// quantization section (skip list, FP8 scaling, observer freeze step, LLM.int8() threshold)
// reaches them: a skipped layer stays f32 in the PTQ and QAT rows, the schedule freezes the QAT
// rows' observers, and a skip pattern naming no layer fails before any training. Small models
// and data limits keep it to seconds.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "framework/data/fashion_mnist.h"
#include "framework/data/text.h"
#include "qat/cnn_experiment.h"
#include "qat/llm_int8.h"
#include "qat/lm_experiment.h"
#include "qat/prepare.h"
#include "qat/schemes.h"

namespace octet {
namespace {

// Every module's type by its dotted name.
std::map<std::string, std::string> types(nn::Module& m) {
  std::map<std::string, std::string> out;
  for (auto& [name, module] : m.named_modules()) out[name] = module->type_name();
  return out;
}

// Whether any quantizer of the tree still observes.
bool any_observing(nn::Module& m) {
  for (auto& [name, fq] : qat::fake_quantizers(m))
    if (fq->observer_enabled()) return true;
  return false;
}

// The scheme's defaults plus `skip`, recording which schemes were asked for.
qat::QatConfigFor skipping(const std::string& skip, std::vector<std::string>* asked) {
  return [skip, asked](const std::string& scheme) {
    asked->push_back(scheme);
    qat::QatConfig c;
    c.layers = qat::scheme_config(scheme);
    c.skip.push_back(skip);
    return c;
  };
}

qat::CnnQuantOptions small_cnn_run() {
  qat::CnnQuantOptions o;
  o.schemes = {"w8a8"};
  o.finetune_steps = 3;
  o.batch = 32;
  o.calibration_batches = 2;
  o.test_limit = 300;
  return o;
}

TEST(CnnExperiment, ConfigHookSkipsALayerInThePtqAndQatRowsAndTheScheduleFreezes) {
  Generator init(3);
  const models::Cnn trained({8, 16, 32, 10, 0.0}, init);
  qat::CnnQuantOptions o = small_cnn_run();
  o.eval_batch = 128;
  std::vector<std::string> asked;
  o.config_for = skipping("fc2", &asked);
  o.qat_schedule = qat::QatSchedule{0, 2};  // 3 steps: observers off from the third
  std::map<std::string, std::map<std::string, std::string>> seen;  // row -> module -> type
  bool qat_observing = true;
  o.on_model = [&](const std::string& method, const std::string&, models::Cnn& m) {
    seen[method] = types(m);
    if (method == "qat") qat_observing = any_observing(m);
  };
  const std::vector<qat::CnnQuantRow> rows = qat::compare_cnn_quantization(trained, o);
  ASSERT_EQ(rows.size(), 4u);  // fp32, fp32_finetune, ptq w8a8, qat w8a8
  EXPECT_EQ(asked, (std::vector<std::string>{"w8a8"}));
  for (const char* method : {"ptq", "qat"}) {
    SCOPED_TRACE(method);
    EXPECT_EQ(seen[method]["fc2"], "Linear") << "skipped by the hook";
    EXPECT_EQ(seen[method]["fc1"], "QuantLinear");
    EXPECT_EQ(seen[method]["conv1"], "QuantConv2d");
  }
  EXPECT_EQ(seen["fp32"]["fc1"], "Linear");
  EXPECT_FALSE(qat_observing) << "the schedule froze the QAT row's observers at step 2";
  for (const qat::CnnQuantRow& row : rows) {
    EXPECT_GE(row.accuracy, 0.0);
    EXPECT_LE(row.accuracy, 1.0);
  }

  // Scored on test_limit images in eval_batch chunks: the FP32 row is evaluate_accuracy's score
  // of the same images (nothing in an FP32 model depends on the chunks).
  const ImageDataset test = load_fashion_mnist(kFashionMnistDir, false);
  Generator unused(0);
  models::Cnn copy(trained.config(), unused);
  copy.load_state(trained.named_parameters());
  EXPECT_DOUBLE_EQ(rows[0].accuracy,
                   train::evaluate_accuracy(copy, train::normalize_images(test.images.data(), 300),
                                            test.labels.data()));
}

TEST(CnnExperiment, WithoutAScheduleQatObserversKeepObserving) {
  Generator init(4);
  const models::Cnn trained({4, 8, 16, 10, 0.0}, init);
  qat::CnnQuantOptions o = small_cnn_run();
  o.finetune_steps = 1;
  o.test_limit = 50;
  bool qat_observing = false;
  o.on_model = [&](const std::string& method, const std::string&, models::Cnn& m) {
    if (method == "qat") qat_observing = any_observing(m);
  };
  qat::compare_cnn_quantization(trained, o);
  EXPECT_TRUE(qat_observing);
}

TEST(CnnExperiment, ASkipPatternNamingNoLayerFailsBeforeTraining) {
  Generator init(5);
  const models::Cnn trained({4, 8, 16, 10, 0.0}, init);
  qat::CnnQuantOptions o = small_cnn_run();
  std::vector<std::string> asked;
  o.config_for = skipping("fc3", &asked);
  bool any_row = false;
  o.on_model = [&](const std::string&, const std::string&, models::Cnn&) { any_row = true; };
  try {
    qat::compare_cnn_quantization(trained, o);
    ADD_FAILURE() << "expected a throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("skip pattern 'fc3' matches no layer"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(any_row) << "no row is measured with a config that cannot be what was meant";
}

TEST(LmExperiment, ConfigHookScheduleAndThresholdReachEveryQuantizedRow) {
  auto text = std::make_shared<const TextDataset>(load_kjv_text());
  train::LmTrainOptions model;
  model.model.dim = 32;
  model.model.layers = 1;
  model.model.heads = 2;
  model.model.block = 16;
  model.batch = 4;
  model.eval_windows = 4;
  const std::string checkpoint = (std::filesystem::temp_directory_path() /
                                  ("quant_experiment_" + std::to_string(::getpid()) + ".ckpt"))
                                     .string();
  train::LmTrainer(model, text).save(checkpoint);

  qat::LmQuantOptions o;
  o.model = model;
  o.checkpoint = checkpoint;
  o.finetune_steps = 2;
  o.finetune_warmup = 0;
  o.calibration_batches = 1;
  o.schemes = {"w8a8"};
  o.ptq_methods = {"llm_int8", "smoothquant"};
  std::vector<std::string> asked;
  o.config_for = skipping("blocks.0.fc", &asked);
  o.qat_schedule = qat::QatSchedule{0, 1};
  o.llm_int8_threshold = 3.5;
  std::map<std::string, std::map<std::string, std::string>> seen;  // row label -> module -> type
  bool qat_observing = true;
  double threshold = 0;
  o.on_model = [&](const std::string& method, const std::string& scheme, models::LanguageModel& m) {
    seen[method + " " + scheme] = types(m);
    if (method == "qat") qat_observing = any_observing(m);
    for (auto& [name, module] : m.named_modules())
      if (auto* l = dynamic_cast<qat::LlmInt8Linear*>(module))
        threshold = l->input_fake_quant().threshold();
  };
  const std::vector<qat::LmQuantRow> rows = qat::compare_lm_quantization(text, o);
  std::filesystem::remove(checkpoint);
  ASSERT_EQ(rows.size(), 6u);  // fp32, fp32_finetune, ptq w8a8, qat w8a8, llm_int8, smoothquant
  for (const char* row : {"ptq w8a8", "qat w8a8", "ptq smoothquant"}) {
    SCOPED_TRACE(row);
    EXPECT_EQ(seen[row]["blocks.0.fc"], "Linear") << "skipped by the hook";
    EXPECT_EQ(seen[row]["blocks.0.proj"], "QuantLinear");
    EXPECT_EQ(seen[row]["lm_head"], "Linear");
  }
  EXPECT_TRUE(std::count(asked.begin(), asked.end(), "w8a8") >= 3)
      << "the probe, the PTQ and QAT rows, and smoothquant's w8a8 all ask the hook";
  EXPECT_FALSE(qat_observing) << "the schedule froze the QAT row's observers at step 1";
  EXPECT_DOUBLE_EQ(threshold, 3.5);
  EXPECT_EQ(seen["ptq llm_int8"]["blocks.0.fc"], "LlmInt8Linear");
}

}  // namespace
}  // namespace octet
