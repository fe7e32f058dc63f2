#include "tools/commands/train_command.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "framework/data/text.h"
#include "framework/parallel/communicator.h"
#include "framework/train/language_model.h"
#include "tools/commands/recipe_runs.h"
#include "tools/commands/train_target.h"
#include "tools/commands/training_monitor.h"

namespace octet::tools {
namespace {

void log_line(const std::string& s) { std::cout << s << std::endl; }

std::string run_directory(const std::string& run_dir, const std::string& save) {
  if (!run_dir.empty() || save.empty()) return run_dir;
  const std::filesystem::path parent = std::filesystem::path(save).parent_path();
  return parent.empty() ? "." : parent.string();
}

std::string world_note() {
  const std::string world = describe_world();
  return world.empty() ? "" : " (" + world + ")";
}

}  // namespace

int train_cnn_run(train::CnnTrainOptions o, const models::CnnConfig& config,
                  const std::string& save, const std::string& run_dir) {
  o.log = log_line;
  TrainingMonitor monitor("train cnn", "samples/s", run_directory(run_dir, save));
  o.after_step = [&](const train::StepReport& s) { monitor.on_step(s); };
  Generator init(o.seed);
  models::Cnn model(config, init);
  auto r = train::train_cnn(o, &model);
  monitor.finish();
  monitor.record({{"test_accuracy", r.test_accuracy}, {"seconds", r.seconds}});
  std::printf(
      "fashion-mnist cnn: test accuracy %.2f%% after %lld epochs (%lld steps) in %.1f s%s%s\n",
      100.0 * r.test_accuracy, static_cast<long long>(o.epochs), static_cast<long long>(r.steps),
      r.seconds, describe_train_target(o.device, "fp32").c_str(), world_note().c_str());
  if (!save.empty() && parallel::world().is_root()) {
    train::save_cnn_checkpoint(save, model);
    std::printf("checkpoint written to %s\n", save.c_str());
  }
  if (!monitor.metrics_path().empty())
    std::printf("metrics in %s, loss curve in %s\n", monitor.metrics_path().c_str(),
                monitor.chart_path().c_str());
  return 0;
}

int train_lm_run(const LmTrainRun& run, const std::string& resume, const std::string& run_dir) {
  const train::LmTrainOptions& o = run.options;
  auto text = std::make_shared<const TextDataset>(load_kjv_text());
  train::LmTrainer trainer(o, text);
  if (!resume.empty()) trainer.load(resume);
  std::printf("%s: %lld parameters, %lld steps of %lld x %lld bytes%s%s\n", o.arch.c_str(),
              static_cast<long long>(trainer.model().num_parameters()),
              static_cast<long long>(o.steps), static_cast<long long>(o.batch),
              static_cast<long long>(o.model.block),
              describe_train_target(o.device, o.precision).c_str(), world_note().c_str());
  TrainingMonitor monitor("train " + o.arch, "tokens/s", run_directory(run_dir, run.save));
  const auto t0 = std::chrono::steady_clock::now();
  double loss = 0;
  while (trainer.steps_done() < o.steps) {
    loss = trainer.step();
    const int64_t s = trainer.steps_done();
    monitor.on_step({s, o.steps, loss, trainer.last_lr(), o.batch * o.model.block});
    if ((run.eval_every > 0 && s % run.eval_every == 0) || s == o.steps) {
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double val = trainer.validation_loss();
      monitor.on_validation(s, val);
      std::printf("step %5lld  train loss %.4f  val loss %.4f nats/byte  (%.1f s)\n",
                  static_cast<long long>(s), loss, val, secs);
      std::fflush(stdout);
    }
    if (run.save_every > 0 && s % run.save_every == 0 && s < o.steps) trainer.save(run.save);
  }
  monitor.finish();
  if (!run.save.empty()) {
    trainer.save(run.save);
    std::printf("checkpoint written to %s\n", run.save.c_str());
  }
  if (!monitor.metrics_path().empty())
    std::printf("metrics in %s, loss curve in %s\n", monitor.metrics_path().c_str(),
                monitor.chart_path().c_str());
  return 0;
}

std::function<int()> add_train_command(CLI::App& app) {
  CLI::App* train = app.add_subcommand(
      "train",
      "train a model from scratch (--recipe R, or cnn / lm with flags; --device, --precision)");
  train->require_subcommand(0, 1);
  auto recipe = std::make_shared<RecipeArgs>();
  add_recipe_options(train, *recipe);
  auto resume = std::make_shared<std::string>();
  train->add_option("--resume", *resume, "with --recipe: continue a language model's checkpoint");
  auto run_dir = std::make_shared<std::string>();
  train->add_option("--run-dir", *run_dir,
                    "write metrics.jsonl here (default: beside the checkpoint, if any)");
  // One set of values for all three ways in: `train --recipe R --device cuda`, `train cnn
  // --device cuda`, `train lm --precision bf16`.
  auto target = std::make_shared<TrainTargetArgs>();
  add_train_target_options(train, *target);

  auto cnn = std::make_shared<train::CnnTrainOptions>();
  auto cnn_save = std::make_shared<std::string>();
  CLI::App* cnn_cmd = train->add_subcommand("cnn", "the Fashion-MNIST CNN");
  cnn_cmd->add_option("--epochs", cnn->epochs, "epochs")->capture_default_str();
  cnn_cmd->add_option("--batch", cnn->batch, "batch size")->capture_default_str();
  cnn_cmd->add_option("--lr", cnn->lr, "peak learning rate (AdamW)")->capture_default_str();
  cnn_cmd->add_option("--seed", cnn->seed, "random seed")->capture_default_str();
  cnn_cmd->add_option("--data", cnn->data_dir, "Fashion-MNIST directory");
  cnn_cmd->add_option("--save", *cnn_save, "write a checkpoint here at the end");
  add_train_target_options(cnn_cmd, *target);

  auto lm = std::make_shared<LmTrainRun>();
  auto lm_resume = std::make_shared<std::string>();
  train::LmTrainOptions& o = lm->options;
  CLI::App* lm_cmd = train->add_subcommand("lm", "a byte-level language model on the KJV text");
  lm_cmd->add_option("--arch", o.arch, "gpt or llama")->capture_default_str();
  lm_cmd->add_option("--steps", o.steps, "optimizer steps")->capture_default_str();
  lm_cmd->add_option("--batch", o.batch, "sequences per step")->capture_default_str();
  lm_cmd->add_option("--block", o.model.block, "context length")->capture_default_str();
  lm_cmd->add_option("--layers", o.model.layers, "transformer blocks")->capture_default_str();
  lm_cmd->add_option("--heads", o.model.heads, "attention heads")->capture_default_str();
  lm_cmd->add_option("--dim", o.model.dim, "model width")->capture_default_str();
  lm_cmd->add_option("--lr", o.lr, "peak learning rate")->capture_default_str();
  lm_cmd->add_option("--warmup", o.warmup, "warm-up steps")->capture_default_str();
  lm_cmd->add_option("--seed", o.seed, "random seed")->capture_default_str();
  lm_cmd->add_option("--eval-every", lm->eval_every, "steps between validation passes")
      ->capture_default_str();
  lm_cmd->add_option("--save", lm->save, "write a checkpoint here at the end");
  lm_cmd->add_option("--resume", *lm_resume, "continue from this checkpoint");
  add_train_target_options(lm_cmd, *target);

  return [=]() {
    if (!*train) return -1;
    require_recipe_or_subcommand(*train, *recipe);
    const TrainTarget where = resolve_train_target(*target);
    if (*cnn_cmd) {
      train::CnnTrainOptions o = *cnn;
      apply_train_target(where, o);
      return train_cnn_run(o, models::CnnConfig{}, *cnn_save, *run_dir);
    }
    if (*lm_cmd) {
      LmTrainRun run = *lm;
      apply_train_target(where, run.options);
      return train_lm_run(run, *lm_resume, *run_dir);
    }
    return run_train_recipe(load_recipe(recipe->path, recipe->sets), *resume, where);
  };
}

}  // namespace octet::tools
