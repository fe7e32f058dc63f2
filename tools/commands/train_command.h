#pragma once
// `octet train`: FP32 training from scratch, from a recipe (--recipe R [--set k=v]...) or with
// flags (`train cnn`, `train lm`).
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "framework/models/cnn.h"
#include "framework/train/image_classifier.h"
#include "tools/commands/recipe_mapping.h"

namespace octet::tools {

// Registers `train` under `app`; returns a function that runs it if it was chosen (returning
// the exit code) and -1 otherwise.
std::function<int()> add_train_command(CLI::App& app);

// The runs behind it, also used by `compare --recipe` to train a missing FP32 checkpoint.
// Each prints progress and the final metric, and writes the checkpoint when `save` is set.
int train_cnn_run(train::CnnTrainOptions options, const models::CnnConfig& config,
                  const std::string& save);
// Validation every run.eval_every steps and at the end; a checkpoint every run.save_every
// steps (if > 0) and at the end.
int train_lm_run(const LmTrainRun& run, const std::string& resume);

}  // namespace octet::tools
