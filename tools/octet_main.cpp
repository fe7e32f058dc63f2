// The octet command line. Library code throws octet::Error; this is the one place that catches
// it, prints it and exits non-zero.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "framework/data/text.h"
#include "framework/train/image_classifier.h"
#include "framework/train/language_model.h"
#include "ops/cpu/gemm.h"
#include "tools/commands/compare_commands.h"
#include "tools/commands/export_commands.h"
#include "tools/commands/model_commands.h"
#include "tools/commands/qat_commands.h"
#include "tools/commands/runtime_commands.h"

namespace {

void log_line(const std::string& s) { std::cout << s << std::endl; }

int run_train_cnn(octet::train::CnnTrainOptions o, const std::string& save) {
  o.log = log_line;
  octet::Generator init(o.seed);
  octet::models::Cnn model(octet::models::CnnConfig{}, init);
  auto r = octet::train::train_cnn(o, &model);
  std::printf("fashion-mnist cnn: test accuracy %.2f%% after %lld epochs (%lld steps) in %.1f s\n",
              100.0 * r.test_accuracy, static_cast<long long>(o.epochs),
              static_cast<long long>(r.steps), r.seconds);
  if (!save.empty()) {
    octet::train::save_cnn_checkpoint(save, model);
    std::printf("checkpoint written to %s\n", save.c_str());
  }
  return 0;
}

int run_train_lm(const octet::train::LmTrainOptions& o, int64_t eval_every, const std::string& save,
                 const std::string& resume) {
  auto text = std::make_shared<const octet::TextDataset>(octet::load_kjv_text());
  octet::train::LmTrainer trainer(o, text);
  if (!resume.empty()) trainer.load(resume);
  std::printf("%s: %lld parameters, %lld steps of %lld x %lld bytes\n", o.arch.c_str(),
              static_cast<long long>(trainer.model().num_parameters()),
              static_cast<long long>(o.steps), static_cast<long long>(o.batch),
              static_cast<long long>(o.model.block));
  const auto t0 = std::chrono::steady_clock::now();
  double loss = 0;
  while (trainer.steps_done() < o.steps) {
    loss = trainer.step();
    const int64_t s = trainer.steps_done();
    if (s % eval_every == 0 || s == o.steps) {
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("step %5lld  train loss %.4f  val loss %.4f nats/byte  (%.1f s)\n",
                  static_cast<long long>(s), loss, trainer.validation_loss(), secs);
      std::fflush(stdout);
    }
  }
  if (!save.empty()) {
    trainer.save(save);
    std::printf("checkpoint written to %s\n", save.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"octet: 8-bit deep learning, from training to deployment"};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "CPU threads (default: all cores)");

  auto* train = app.add_subcommand("train", "train a model from scratch");
  train->require_subcommand(1);

  octet::train::CnnTrainOptions cnn;
  auto* cnn_cmd = train->add_subcommand("cnn", "the Fashion-MNIST CNN");
  cnn_cmd->add_option("--epochs", cnn.epochs, "epochs")->capture_default_str();
  cnn_cmd->add_option("--batch", cnn.batch, "batch size")->capture_default_str();
  cnn_cmd->add_option("--lr", cnn.lr, "peak learning rate (AdamW)")->capture_default_str();
  cnn_cmd->add_option("--seed", cnn.seed, "random seed")->capture_default_str();
  cnn_cmd->add_option("--data", cnn.data_dir, "Fashion-MNIST directory");
  std::string cnn_save;
  cnn_cmd->add_option("--save", cnn_save, "write a checkpoint here at the end");

  octet::train::LmTrainOptions lm;
  int64_t eval_every = 100;
  std::string lm_save, lm_resume;
  auto* lm_cmd = train->add_subcommand("lm", "a byte-level language model on the KJV text");
  lm_cmd->add_option("--arch", lm.arch, "gpt or llama")->capture_default_str();
  lm_cmd->add_option("--steps", lm.steps, "optimizer steps")->capture_default_str();
  lm_cmd->add_option("--batch", lm.batch, "sequences per step")->capture_default_str();
  lm_cmd->add_option("--block", lm.model.block, "context length")->capture_default_str();
  lm_cmd->add_option("--layers", lm.model.layers, "transformer blocks")->capture_default_str();
  lm_cmd->add_option("--heads", lm.model.heads, "attention heads")->capture_default_str();
  lm_cmd->add_option("--dim", lm.model.dim, "model width")->capture_default_str();
  lm_cmd->add_option("--lr", lm.lr, "peak learning rate")->capture_default_str();
  lm_cmd->add_option("--warmup", lm.warmup, "warm-up steps")->capture_default_str();
  lm_cmd->add_option("--seed", lm.seed, "random seed")->capture_default_str();
  lm_cmd->add_option("--eval-every", eval_every, "steps between validation passes")
      ->capture_default_str();
  lm_cmd->add_option("--save", lm_save, "write a checkpoint here at the end");
  lm_cmd->add_option("--resume", lm_resume, "continue from this checkpoint");

  auto* qat = app.add_subcommand("qat", "quantization-aware training and its comparisons");
  qat->require_subcommand(1);
  const std::function<int()> run_qat_cnn = octet::tools::add_qat_cnn_command(*qat);
  const std::function<int()> run_qat_lm = octet::tools::add_qat_lm_command(*qat);
  const std::function<int()> run_inspect = octet::tools::add_inspect_command(app);
  const std::function<int()> run_ptq = octet::tools::add_ptq_command(app);
  const std::function<int()> run_export = octet::tools::add_export_command(app);
  const std::function<int()> run_eval = octet::tools::add_eval_command(app);
  const std::function<int()> run_generate = octet::tools::add_generate_command(app);
  const std::function<int()> run_compare = octet::tools::add_compare_command(app);

  CLI11_PARSE(app, argc, argv);
  try {
    if (threads > 0) octet::cpu::set_num_threads(threads);
    if (*cnn_cmd) return run_train_cnn(cnn, cnn_save);
    if (*lm_cmd) return run_train_lm(lm, eval_every, lm_save, lm_resume);
    if (const int rc = run_qat_cnn(); rc >= 0) return rc;
    if (const int rc = run_qat_lm(); rc >= 0) return rc;
    if (const int rc = run_inspect(); rc >= 0) return rc;
    if (const int rc = run_ptq(); rc >= 0) return rc;
    if (const int rc = run_export(); rc >= 0) return rc;
    if (const int rc = run_eval(); rc >= 0) return rc;
    if (const int rc = run_generate(); rc >= 0) return rc;
    if (const int rc = run_compare(); rc >= 0) return rc;
  } catch (const std::exception& e) {
    std::cerr << "octet: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
