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
// Each prints the final metric and writes the checkpoint (rank 0) when `save` is set; rank 0
// shows a progress bar and writes <run_dir>/metrics.jsonl (run_dir empty: the directory of
// `save` when there is one, else no metrics file).
int train_cnn_run(train::CnnTrainOptions options, const models::CnnConfig& config,
                  const std::string& save, const std::string& run_dir = "");
// Validation every run.eval_every steps and at the end; a checkpoint every run.save_every
// steps (if > 0) and at the end.
int train_lm_run(const LmTrainRun& run, const std::string& resume, const std::string& run_dir = "");

}  // namespace octet::tools
