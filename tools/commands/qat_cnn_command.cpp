#include "tools/commands/qat_cnn_command.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "qat/cnn_experiment.h"
#include "qat/schemes.h"

namespace octet::tools {
namespace {

struct Stats {
  double mean = 0, sd = 0;
  int64_t n = 0;
};

Stats stats_of(const std::vector<double>& v) {
  Stats s;
  s.n = static_cast<int64_t>(v.size());
  for (double x : v) s.mean += x / static_cast<double>(v.size());
  if (v.size() > 1) {
    for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
    s.sd = std::sqrt(s.sd / static_cast<double>(v.size() - 1));
  }
  return s;
}

std::string pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", 100.0 * v);
  return buf;
}

std::string mean_sd(const Stats& s) {
  return s.n > 1 ? pct(s.mean) + " ± " + pct(s.sd) : pct(s.mean);
}

struct Settings {
  int64_t base_epochs = 3;
  uint64_t base_seed = 1;
  std::vector<uint64_t> seeds = {1, 2, 3};
  std::string out;
  qat::CnnQuantOptions experiment;
};

// Rows keyed by "method scheme", one accuracy per seed, in first-seen order.
struct Table {
  std::vector<std::string> keys;
  std::map<std::string, std::vector<double>> accuracy;
  void add(const qat::CnnQuantRow& r) {
    const std::string key = r.method + (r.scheme.empty() ? "" : " " + r.scheme);
    if (!accuracy.count(key)) keys.push_back(key);
    accuracy[key].push_back(r.accuracy);
  }
};

std::vector<double> minus(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) d.push_back(a[i] - b[i]);
  return d;
}

// PTQ rows are compared with the FP32 model they were calibrated from; QAT rows with FP32
// fine-tuned on the same steps and data (paired by seed), the control that separates what
// quantization costs from what the extra training gains. "Recovered" is the share of PTQ's drop
// that QAT wins back: 1 - (control - qat) / (fp32 - ptq).
std::string render(const Settings& s, const Table& t) {
  const std::vector<double>& fp32 = t.accuracy.at("fp32");
  const std::vector<double>& control = t.accuracy.at("fp32_finetune");
  std::ostringstream md;
  md << "| method | test accuracy % | delta (points) | compared with | PTQ drop recovered |\n"
     << "|---|---|---|---|---|\n";
  for (const std::string& key : t.keys) {
    const std::vector<double>& acc = t.accuracy.at(key);
    const bool is_qat = key.rfind("qat ", 0) == 0;
    std::string delta = "", reference = "", recovered = "";
    if (key == "fp32_finetune" || key.rfind("ptq ", 0) == 0) {
      delta = mean_sd(stats_of(minus(acc, fp32)));
      reference = "fp32";
    } else if (is_qat) {
      delta = mean_sd(stats_of(minus(acc, control)));
      reference = "fp32_finetune (paired)";
      const std::string ptq_key = "ptq " + key.substr(4);
      if (t.accuracy.count(ptq_key)) {
        const double drop = stats_of(minus(fp32, t.accuracy.at(ptq_key))).mean;
        const double gap = stats_of(minus(control, acc)).mean;
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.0f%% of %.2f", 100.0 * (1.0 - gap / drop), 100.0 * drop);
        recovered = drop > 0 ? buf : "(no drop)";
      }
    }
    md << "| " << key << " | " << mean_sd(stats_of(acc)) << " | " << delta << " | " << reference
       << " | " << recovered << " |\n";
  }
  md << "\nmean ± sd over fine-tuning seeds";
  for (uint64_t seed : s.seeds) md << " " << seed;
  md << "; FP32 base: " << s.base_epochs << " epochs, seed " << s.base_seed << "; fine-tuning "
     << s.experiment.finetune_steps << " steps of " << s.experiment.batch << " at lr "
     << s.experiment.finetune_lr << "; PTQ calibrated on " << s.experiment.calibration_batches
     << " training batches; accuracy on the 10k test images.\n";
  return md.str();
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

  Table table;
  for (uint64_t seed : s.seeds) {
    qat::CnnQuantOptions o = s.experiment;
    o.seed = seed;
    o.log = [&](const std::string& line) { log("seed " + std::to_string(seed) + "  " + line); };
    for (const qat::CnnQuantRow& r : qat::compare_cnn_quantization(model, o)) table.add(r);
  }
  const std::string md = render(s, table);
  std::cout << "\n" << md;
  if (!s.out.empty()) {
    std::ofstream f(s.out);
    f << md;
    OCTET_CHECK(static_cast<bool>(f), "qat cnn", "cannot write the table to ", s.out);
    std::cout << "table written to " << s.out << std::endl;
  }
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
