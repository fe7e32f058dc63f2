#include "tools/commands/training_monitor.h"

#include <algorithm>
#include <filesystem>

#include "framework/parallel/communicator.h"
#include "ops/cpu/gemm.h"
#include "tools/commands/line_chart.h"

namespace octet::tools {

std::string describe_world() {
  const parallel::Communicator& w = parallel::world();
  if (w.size() == 1) return "";
  return std::to_string(w.size()) + " ranks x " + std::to_string(cpu::num_threads()) +
         " threads, " + w.backend();
}

TrainingMonitor::TrainingMonitor(std::string phase, std::string unit, const std::string& run_dir)
    : phase_(std::move(phase)),
      unit_(std::move(unit)),
      run_dir_(run_dir),
      root_(parallel::world().is_root()),
      started_(steady_seconds()) {
  if (root_ && !run_dir.empty()) log_ = std::make_unique<MetricsLog>(run_dir);
}

void TrainingMonitor::on_step(const train::StepReport& s) {
  if (!root_) return;
  // The bar is made at the first step, when the loop has said how many steps it will take.
  if (!bar_) {
    ProgressOptions options;
    options.started = started_;
    bar_ = std::make_unique<ProgressBar>(phase_, s.total, unit_, options);
  }
  bar_->update(s.step, static_cast<double>(s.items), {{"loss", s.loss}, {"lr", s.lr}});
  if (log_) log_->log(s.step, {{"phase", phase_}, {"loss", s.loss}, {"lr", s.lr}});
  steps_.push_back(static_cast<double>(s.step));
  losses_.push_back(s.loss);
}

void TrainingMonitor::on_validation(int64_t step, double loss) {
  if (!root_) return;
  record({{"step", step}, {"val_loss", loss}});
  val_steps_.push_back(static_cast<double>(step));
  val_losses_.push_back(loss);
}

void TrainingMonitor::record(JsonFields fields) {
  if (!log_) return;
  fields.insert(fields.begin(), {"phase", phase_});
  log_->write(fields);
}

void TrainingMonitor::finish() {
  if (bar_) bar_->finish();
  if (!root_ || !log_ || steps_.empty()) return;
  LineChart chart;
  chart.title = "octet " + phase_ + ": loss";
  chart.x_label = "step";
  chart.y_label = "loss (nats)";
  chart.series.push_back({"training", "#4e79a7", steps_, losses_});
  if (!val_steps_.empty())
    chart.series.push_back({"validation", "#e15759", val_steps_, val_losses_});
  std::string name = phase_;
  std::replace(name.begin(), name.end(), ' ', '_');
  chart_path_ = (std::filesystem::path(run_dir_) / (name + "_loss.svg")).string();
  write_line_svg(chart, chart_path_);
}

const std::string& TrainingMonitor::metrics_path() const {
  static const std::string none;
  return log_ ? log_->path() : none;
}

}  // namespace octet::tools
