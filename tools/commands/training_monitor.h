#pragma once
// What a user watches while a model trains: a progress bar (ETA, throughput, loss) and, when the
// run has a directory, one JSON line per step in <run_dir>/metrics.jsonl and, at the end, the loss
// curve in <run_dir>/<phase>_loss.svg. All on rank 0 only, whatever the number of ranks; other
// ranks keep their monitor silent.
#include <memory>
#include <string>
#include <vector>

#include "framework/train/image_classifier.h"
#include "tools/commands/metrics_log.h"
#include "tools/commands/progress.h"

namespace octet::tools {

// "2 ranks x 1 threads, mpi" for a job of several ranks; "" in one process.
std::string describe_world();

class TrainingMonitor {
 public:
  // `phase` labels the bar and each JSON line ("train cnn", "fp32"); `unit` is "samples/s" or
  // "tokens/s"; `run_dir` empty: no metrics file. The run's clock starts now: make the monitor
  // just before the run's first step.
  TrainingMonitor(std::string phase, std::string unit, const std::string& run_dir);

  // After each optimizer step (CnnTrainOptions::after_step, or a loop's own call).
  void on_step(const train::StepReport& step);
  // A validation loss at `step`: logged, and drawn as a second curve.
  void on_validation(int64_t step, double loss);
  // A record that is not a step (final accuracy), tagged with the phase.
  void record(JsonFields fields);
  // The bar's last line, and the loss chart when the run has a directory.
  void finish();

  const std::string& metrics_path() const;
  const std::string& chart_path() const { return chart_path_; }

 private:
  std::string phase_, unit_, run_dir_, chart_path_;
  bool root_;
  double started_;  // steady_seconds() when the monitor was made
  std::vector<double> steps_, losses_, val_steps_, val_losses_;
  std::unique_ptr<ProgressBar> bar_;
  std::unique_ptr<MetricsLog> log_;
};

}  // namespace octet::tools
