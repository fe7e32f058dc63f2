#pragma once
// From a validated recipe to the option structs the library already has. A field the recipe
// leaves out keeps the struct's own default, so an empty section maps to default options.
#include <string>

#include "framework/models/cnn.h"
#include "framework/train/image_classifier.h"
#include "framework/train/language_model.h"
#include "qat/cnn_experiment.h"
#include "qat/lm_experiment.h"
#include "qat/prepare.h"
#include "tools/commands/compare_settings.h"
#include "tools/commands/recipe.h"

namespace octet::tools {

// ---- FP32 training (octet train --recipe) -----------------------------------------------------

models::CnnConfig cnn_config(const LoadedRecipe& r);
// epochs, batch, lr/min_lr/weight_decay, warmup, data.seed, data.fashion_mnist.*
train::CnnTrainOptions cnn_train_options(const LoadedRecipe& r);
// arch and sizes, batch, steps, optimizer, warmup, data.seed, eval.windows
train::LmTrainOptions lm_train_options(const LoadedRecipe& r);

// What `octet train` does with a language-model recipe beyond LmTrainOptions.
struct LmTrainRun {
  train::LmTrainOptions options;
  int64_t eval_every = 100;  // eval.every_steps
  std::string save;          // checkpoint.path (empty: none)
  int64_t save_every = 0;    // checkpoint.every_steps (0: only at the end)
};
LmTrainRun lm_train_run(const LoadedRecipe& r);

// ---- quantization -----------------------------------------------------------------------------

// quantization.*: schemes (the PTQ list, qat_schemes always set), fine-tuning, calibration,
// batch (schedule.batch), data directory; config_for builds each scheme's QatConfig with
// qat_config below (skip, fp8), with int8 embeddings and lm_head only when f32_tables is
// explicitly false (unset, the experiments keep them f32 as they always did); qat_schedule
// freezes the observers at freeze_observers_at_step when set.
qat::CnnQuantOptions cnn_quant_options(const LoadedRecipe& r);
// The model as lm_train_options, plus the quantization section (as above, and
// llm_int8_threshold); checkpoint = checkpoint.path.
qat::LmQuantOptions lm_quant_options(const LoadedRecipe& r);

// `octet compare --recipe`: the settings `compare cnn|lm` would get from its flags, plus the
// quantization section's hooks above; the CNN's fake-quant rows are scored in eval.batch chunks,
// as the runtime scores them. Throws UsageError for what compare cannot honour: a language model
// with fp8 CURRENT scaling and an eval.batch other than 16 (the fake-quant validation runs 16
// windows per forward, and such a scale depends on the batch).
CnnCompareSettings compare_cnn_settings(const LoadedRecipe& r);
LmCompareSettings compare_lm_settings(const LoadedRecipe& r);

// `octet ptq|export --recipe`: the QatConfig for `scheme` ("smoothquant" maps to its w8a8):
// qat::scheme_config, plus quantization.skip (added to the default lm_head) and quantization.fp8
// on the inputs of FP8 schemes.
qat::QatConfig qat_config(const LoadedRecipe& r, const std::string& scheme);
// quantization.freeze_observers_at_step (fake-quant on from step 0, as after calibration); -1:
// the recipe does not set it.
int64_t freeze_observers_at_step(const LoadedRecipe& r);

// ---- distributed: gradient buckets and accumulation of the training loops ---------------------

struct DistributedSettings {
  double bucket_mb = 25;
  int64_t accumulation_steps = 1;
};
DistributedSettings distributed_settings(const LoadedRecipe& r);
// Sets a training loop's bucket size and micro-batches per step from distributed.* (what
// cnn_train_options and lm_train_options do; QAT fine-tuning inside compare keeps the defaults).
void apply_distributed(const LoadedRecipe& r, parallel::DataParallelOptions& data_parallel,
                       int64_t& accumulation_steps);

}  // namespace octet::tools
