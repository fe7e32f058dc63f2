#include "tools/commands/training_monitor.h"

#include "framework/parallel/communicator.h"
#include "ops/cpu/gemm.h"

namespace octet::tools {

std::string describe_world() {
  const parallel::Communicator& w = parallel::world();
  if (w.size() == 1) return "";
  return std::to_string(w.size()) + " ranks x " + std::to_string(cpu::num_threads()) +
         " threads, " + w.backend();
}

TrainingMonitor::TrainingMonitor(std::string phase, std::string unit, const std::string& run_dir)
    : phase_(std::move(phase)), unit_(std::move(unit)), root_(parallel::world().is_root()) {
  if (root_ && !run_dir.empty()) log_ = std::make_unique<MetricsLog>(run_dir);
}

void TrainingMonitor::on_step(const train::StepReport& s) {
  if (!root_) return;
  // The bar is made at the first step, when the loop has said how many steps it will take.
  if (!bar_) bar_ = std::make_unique<ProgressBar>(phase_, s.total, unit_);
  bar_->update(s.step, static_cast<double>(s.items), {{"loss", s.loss}, {"lr", s.lr}});
  if (log_) log_->log(s.step, {{"phase", phase_}, {"loss", s.loss}, {"lr", s.lr}});
}

void TrainingMonitor::record(JsonFields fields) {
  if (!log_) return;
  fields.insert(fields.begin(), {"phase", phase_});
  log_->write(fields);
}

void TrainingMonitor::finish() {
  if (bar_) bar_->finish();
}

const std::string& TrainingMonitor::metrics_path() const {
  static const std::string none;
  return log_ ? log_->path() : none;
}

}  // namespace octet::tools
