#include "qat/lm_experiment.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <sstream>

#include "qat/llm_int8.h"
#include "qat/outlier_injection.h"
#include "qat/prepare.h"
#include "qat/schemes.h"
#include "qat/smoothquant.h"

namespace octet::qat {

std::vector<LmQuantRow> compare_lm_quantization(std::shared_ptr<const TextDataset> text,
                                                const LmQuantOptions& o) {
  OCTET_CHECK(!o.checkpoint.empty(), "qat lm", "needs the FP32 checkpoint to start from");
  const std::vector<std::string>& qat_schemes = o.qat_schemes ? *o.qat_schemes : o.schemes;
  std::vector<std::string> all_schemes = o.schemes;  // each PTQ row, then its QAT row, in order
  for (const std::string& scheme : qat_schemes)
    if (std::find(all_schemes.begin(), all_schemes.end(), scheme) == all_schemes.end())
      all_schemes.push_back(scheme);
  for (const std::string& scheme : all_schemes) scheme_config(scheme);  // fail early on a typo
  if (o.config_for) {  // and on a skip pattern that names no layer, before any training
    Generator unused(0);
    const auto probe = train::make_language_model(o.model.arch, o.model.model, unused);
    for (const std::string& scheme : all_schemes)
      experiment_config(o.config_for, scheme, *probe, "qat lm");
  }
  auto contains = [](const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  for (const std::string& method : o.ptq_methods) {
    OCTET_CHECK(method == "llm_int8" || method == "smoothquant", "qat lm", "unknown PTQ method '",
                method, "' (known: llm_int8, smoothquant)");
  }
  // With outliers asked for, every row starts from an injected copy of the checkpoint.
  std::string checkpoint = o.checkpoint;
  if (!o.outlier_dims.empty()) {
    train::LmTrainer plain(o.model, text);
    plain.load_weights(o.checkpoint);
    inject_outlier_features(plain.model(), o.outlier_dims, o.outlier_factor);
    checkpoint = (std::filesystem::temp_directory_path() /
                  ("octet_outliers_" + std::to_string(::getpid()) + ".ckpt"))
                     .string();
    plain.save(checkpoint);
  }

  // A trainer on the checkpoint's weights, fine-tuning settings, and `scheme`'s twins if any.
  auto make_trainer = [&](const std::string& scheme) {
    train::LmTrainOptions t = o.model;
    t.steps = o.finetune_steps;
    t.lr = o.finetune_lr;
    t.min_lr = o.finetune_lr * 0.1;
    t.warmup = o.finetune_warmup;
    t.seed = o.seed;
    if (!scheme.empty()) {
      t.prepare_model = [scheme, config_for = o.config_for](nn::Module& m) {
        prepare(m, experiment_config(config_for, scheme, m, "qat lm"));
      };
    }
    auto trainer = std::make_unique<train::LmTrainer>(t, text);
    trainer->load_weights(checkpoint);
    return trainer;
  };

  std::vector<LmQuantRow> rows;
  auto add = [&](const std::string& method, const std::string& scheme, train::LmTrainer& trainer,
                 std::chrono::steady_clock::time_point t0) {
    LmQuantRow row{method, scheme, trainer.validation_loss(),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
    if (o.log) {
      std::ostringstream os;
      os << method << (scheme.empty() ? "" : " " + scheme) << ": validation loss " << row.val_loss
         << " nats/byte (" << row.seconds << " s)";
      o.log(os.str());
    }
    rows.push_back(row);
    if (o.on_model) o.on_model(method, scheme, trainer.model());
  };
  auto fine_tune = [&](train::LmTrainer& trainer) {
    while (trainer.steps_done() < o.finetune_steps) {
      if (o.qat_schedule) o.qat_schedule->apply(trainer.model(), trainer.steps_done());
      trainer.step();
    }
  };

  auto t0 = std::chrono::steady_clock::now();
  add("fp32", "", *make_trainer(""), t0);

  t0 = std::chrono::steady_clock::now();
  auto control = make_trainer("");
  fine_tune(*control);
  add("fp32_finetune", "", *control, t0);

  for (const std::string& scheme : all_schemes) {
    if (contains(o.schemes, scheme)) {
      t0 = std::chrono::steady_clock::now();
      auto ptq = make_trainer(scheme);
      calibrate(ptq->model(), o.calibration_batches,
                [&](int64_t) { ptq->forward_training_batch(); });
      add("ptq", scheme, *ptq, t0);
    }
    if (!contains(qat_schemes, scheme)) continue;

    t0 = std::chrono::steady_clock::now();
    auto qat = make_trainer(scheme);
    fine_tune(*qat);
    add("qat", scheme, *qat, t0);
  }
  for (const std::string& method : o.ptq_methods) {
    t0 = std::chrono::steady_clock::now();
    auto ptq = make_trainer("");
    auto forward = [&](int64_t) { ptq->forward_training_batch(); };
    if (method == "llm_int8") {
      prepare_llm_int8(ptq->model(), o.llm_int8_threshold);
    } else {
      ptq->model().eval();  // statistics without dropout, as calibrate() takes them
      smooth_quant(ptq->model(), smooth_groups(ptq->model()), forward, o.calibration_batches);
      prepare(ptq->model(), experiment_config(o.config_for, "w8a8", ptq->model(), "qat lm"));
    }
    calibrate(ptq->model(), o.calibration_batches, forward);
    add("ptq", method, *ptq, t0);
  }
  if (checkpoint != o.checkpoint) std::filesystem::remove(checkpoint);
  return rows;
}

}  // namespace octet::qat
