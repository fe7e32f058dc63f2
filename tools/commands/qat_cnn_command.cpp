#include <iostream>
#include <sstream>

#include "qat/cnn_experiment.h"
#include "qat/schemes.h"
#include "tools/commands/comparison_table.h"
#include "tools/commands/qat_commands.h"

namespace octet::tools {
namespace {

struct Settings {
  int64_t base_epochs = 3;
  uint64_t base_seed = 1;
  std::vector<uint64_t> seeds = {1, 2, 3};
  std::string out;
  qat::CnnQuantOptions experiment;
};

std::string footnote(const Settings& s) {
  std::ostringstream os;
  os << "mean ± sd over fine-tuning seeds";
  for (uint64_t seed : s.seeds) os << " " << seed;
  os << "; FP32 base: " << s.base_epochs << " epochs, seed " << s.base_seed << "; fine-tuning "
     << s.experiment.finetune_steps << " steps of " << s.experiment.batch << " at lr "
     << s.experiment.finetune_lr << "; PTQ calibrated on " << s.experiment.calibration_batches
     << " training batches; accuracy on the 10k test images; deltas in points.";
  return os.str();
}

int run(const Settings& s) {
  // Unknown scheme names fail now, not after minutes of training.
  for (const std::string& scheme : s.experiment.schemes) qat::scheme_config(scheme);
  auto log = [](const std::string& line) { std::cout << line << std::endl; };
  train::CnnTrainOptions base;
  base.epochs = s.base_epochs;
  base.seed = s.base_seed;
  base.data_dir = s.experiment.data_dir;
  base.log = log;
  Generator init(s.base_seed);
  models::Cnn model(models::CnnConfig{}, init);
  train::train_cnn(base, &model);

  ComparisonTable table({"test accuracy %", true, 100.0, 2, false, 0.2});
  for (uint64_t seed : s.seeds) {
    qat::CnnQuantOptions o = s.experiment;
    o.seed = seed;
    o.log = [&](const std::string& line) { log("seed " + std::to_string(seed) + "  " + line); };
    for (const qat::CnnQuantRow& r : qat::compare_cnn_quantization(model, o)) {
      table.add(r.method, r.scheme, r.accuracy);
    }
  }
  publish_table(table.render(footnote(s)), s.out);
  return 0;
}

}  // namespace

std::function<int()> add_qat_cnn_command(CLI::App& parent) {
  auto settings = std::make_shared<Settings>();
  auto* cmd = parent.add_subcommand(
      "cnn", "Fashion-MNIST: FP32 vs PTQ vs QAT for each scheme, over several seeds");
  cmd->add_option("--base-epochs", settings->base_epochs, "epochs of FP32 training")
      ->capture_default_str();
  cmd->add_option("--base-seed", settings->base_seed, "seed of the FP32 model")
      ->capture_default_str();
  cmd->add_option("--seeds", settings->seeds, "fine-tuning seeds (paired: control and QAT)")
      ->capture_default_str();
  cmd->add_option("--steps", settings->experiment.finetune_steps, "fine-tuning steps")
      ->capture_default_str();
  cmd->add_option("--lr", settings->experiment.finetune_lr, "fine-tuning learning rate")
      ->capture_default_str();
  cmd->add_option("--calibration-batches", settings->experiment.calibration_batches,
                  "PTQ calibration batches")
      ->capture_default_str();
  cmd->add_option("--schemes", settings->experiment.schemes, "quantization schemes")
      ->capture_default_str();
  cmd->add_option("--data", settings->experiment.data_dir, "Fashion-MNIST directory");
  cmd->add_option("--out", settings->out, "also write the markdown table here");
  return [cmd, settings]() { return *cmd ? run(*settings) : -1; };
}

}  // namespace octet::tools
