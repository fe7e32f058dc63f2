#include "qat/lm_experiment.h"

#include <chrono>
#include <sstream>

#include "qat/prepare.h"
#include "qat/schemes.h"

namespace octet::qat {

std::vector<LmQuantRow> compare_lm_quantization(std::shared_ptr<const TextDataset> text,
                                                const LmQuantOptions& o) {
  OCTET_CHECK(!o.checkpoint.empty(), "qat lm", "needs the FP32 checkpoint to start from");
  for (const std::string& scheme : o.schemes) scheme_config(scheme);  // fail early on a typo

  // A trainer on the checkpoint's weights, fine-tuning settings, and `scheme`'s twins if any.
  auto make_trainer = [&](const std::string& scheme) {
    train::LmTrainOptions t = o.model;
    t.steps = o.finetune_steps;
    t.lr = o.finetune_lr;
    t.min_lr = o.finetune_lr * 0.1;
    t.warmup = o.finetune_warmup;
    t.seed = o.seed;
    if (!scheme.empty()) {
      t.prepare_model = [scheme](nn::Module& m) {
        QatConfig config;
        config.layers = scheme_config(scheme);
        prepare(m, config);
      };
    }
    auto trainer = std::make_unique<train::LmTrainer>(t, text);
    trainer->load_weights(o.checkpoint);
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
  };
  auto fine_tune = [&](train::LmTrainer& trainer) {
    while (trainer.steps_done() < o.finetune_steps) trainer.step();
  };

  auto t0 = std::chrono::steady_clock::now();
  add("fp32", "", *make_trainer(""), t0);

  t0 = std::chrono::steady_clock::now();
  auto control = make_trainer("");
  fine_tune(*control);
  add("fp32_finetune", "", *control, t0);

  for (const std::string& scheme : o.schemes) {
    t0 = std::chrono::steady_clock::now();
    auto ptq = make_trainer(scheme);
    calibrate(ptq->model(), o.calibration_batches, [&](int64_t) { ptq->forward_training_batch(); });
    add("ptq", scheme, *ptq, t0);

    t0 = std::chrono::steady_clock::now();
    auto qat = make_trainer(scheme);
    fine_tune(*qat);
    add("qat", scheme, *qat, t0);
  }
  return rows;
}

}  // namespace octet::qat
