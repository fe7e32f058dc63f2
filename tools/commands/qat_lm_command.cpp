#include <iostream>
#include <memory>
#include <sstream>

#include "qat/lm_experiment.h"
#include "tools/commands/comparison_table.h"
#include "tools/commands/qat_commands.h"

namespace octet::tools {
namespace {

struct Settings {
  std::vector<uint64_t> seeds = {1};
  std::string out;
  qat::LmQuantOptions experiment;
};

std::string footnote(const Settings& s) {
  const qat::LmQuantOptions& e = s.experiment;
  std::ostringstream os;
  os << "mean ± sd over fine-tuning seeds";
  for (uint64_t seed : s.seeds) os << " " << seed;
  os << "; FP32 checkpoint " << e.checkpoint << " (" << e.model.arch << " d" << e.model.model.dim
     << " L" << e.model.model.layers << " T" << e.model.model.block << ")";
  if (!e.outlier_dims.empty()) {
    os << " with outlier features injected into " << e.outlier_dims.size() << " dims (x"
       << e.outlier_factor << ")";
  }
  os << "; fine-tuning " << e.finetune_steps << " steps of " << e.model.batch << " at lr "
     << e.finetune_lr << "; PTQ calibrated on " << e.calibration_batches << " batches; loss over "
     << e.model.eval_windows << " held-out windows; deltas relative to the reference.";
  return os.str();
}

int run(const Settings& s) {
  auto text = std::make_shared<const TextDataset>(load_kjv_text());
  ComparisonTable table({"validation loss (nats/byte)", false, 1.0, 4, true, 0.005});
  for (uint64_t seed : s.seeds) {
    qat::LmQuantOptions o = s.experiment;
    o.seed = seed;
    o.log = [seed](const std::string& line) {
      std::cout << "seed " << seed << "  " << line << std::endl;
    };
    for (const qat::LmQuantRow& r : qat::compare_lm_quantization(text, o)) {
      table.add(r.method, r.scheme, r.val_loss);
    }
  }
  publish_table(table.render(footnote(s)), s.out);
  return 0;
}

}  // namespace

std::function<int()> add_qat_lm_command(CLI::App& parent) {
  auto settings = std::make_shared<Settings>();
  qat::LmQuantOptions& e = settings->experiment;
  e.model.eval_windows = 256;
  auto* cmd = parent.add_subcommand(
      "lm", "KJV language model: FP32 vs PTQ vs QAT from a checkpoint (octet train lm --save)");
  cmd->add_option("--checkpoint", e.checkpoint, "the FP32 checkpoint")->required();
  cmd->add_option("--arch", e.model.arch, "gpt or llama (as trained)")->capture_default_str();
  cmd->add_option("--block", e.model.model.block, "context length (as trained)")
      ->capture_default_str();
  cmd->add_option("--layers", e.model.model.layers, "blocks (as trained)")->capture_default_str();
  cmd->add_option("--heads", e.model.model.heads, "heads (as trained)")->capture_default_str();
  cmd->add_option("--dim", e.model.model.dim, "width (as trained)")->capture_default_str();
  cmd->add_option("--batch", e.model.batch, "sequences per step")->capture_default_str();
  cmd->add_option("--eval-windows", e.model.eval_windows, "validation windows")
      ->capture_default_str();
  cmd->add_option("--seeds", settings->seeds, "fine-tuning seeds (paired: control and QAT)")
      ->capture_default_str();
  cmd->add_option("--steps", e.finetune_steps, "fine-tuning steps")->capture_default_str();
  cmd->add_option("--lr", e.finetune_lr, "fine-tuning learning rate")->capture_default_str();
  cmd->add_option("--calibration-batches", e.calibration_batches, "PTQ calibration batches")
      ->capture_default_str();
  cmd->add_option("--schemes", e.schemes, "quantization schemes (PTQ and QAT)")
      ->capture_default_str();
  cmd->add_option("--ptq-methods", e.ptq_methods, "also: llm_int8, smoothquant");
  cmd->add_option("--outlier-dims", e.outlier_dims,
                  "inject outlier features into these hidden dimensions first");
  cmd->add_option("--outlier-factor", e.outlier_factor, "their scale")->capture_default_str();
  cmd->add_option("--out", settings->out, "also write the markdown table here");
  return [cmd, settings]() { return *cmd ? run(*settings) : -1; };
}

}  // namespace octet::tools
