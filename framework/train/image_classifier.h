#pragma once
// Training the Fashion-MNIST CNN from scratch: the loop behind `fmnist_train` and the e2e test.
#include <functional>
#include <map>
#include <string>

#include "framework/models/cnn.h"
#include "framework/parallel/communicator.h"
#include "framework/parallel/data_parallel.h"

namespace octet::train {

// What a training loop reports after each optimizer step.
struct StepReport {
  int64_t step = 0;   // steps done, 1-based
  int64_t total = 0;  // steps the run will take
  double loss = 0;    // this rank's training loss of the step
  double lr = 0;      // the learning rate the step used
  int64_t items = 0;  // samples (or tokens) of the global batch
};

struct CnnTrainOptions {
  int64_t epochs = 3;
  int64_t batch = 128;
  double lr = 2e-3, min_lr = 1e-5, weight_decay = 1e-4;
  int64_t warmup = 100;
  uint64_t seed = 1;
  int64_t train_limit = 0;  // > 0: train on the first N images only (quick tests)
  int64_t test_limit = 0;   // > 0: evaluate on the first N test images only
  std::string data_dir;     // empty: Debian's dataset-fashion-mnist
  // Where the model trains: it is moved there (Module::to) and each batch is copied there; the
  // data set stays on the host.
  Device device;
  std::function<void(const std::string&)> log;  // progress lines, may be empty
  // Called with the global step number before each training step (QAT schedules), may be empty.
  std::function<void(int64_t)> before_step;
  // Data parallelism: `batch` is the global batch, each rank of `communicator` (null: the
  // process's parallel::world()) trains on its share of it (data/batching.h's rank_share) and
  // DataParallel averages the gradients, so N ranks train the model one process would. Logs come
  // from rank 0 only; every rank returns the same result.
  parallel::Communicator* communicator = nullptr;
  parallel::DataParallelOptions data_parallel;
  // Micro-batches per optimizer step: each rank's share is split this many ways and gradients
  // are reduced once, after the last (same step, less memory).
  int64_t accumulation_steps = 1;
  // Called on every rank after each optimizer step (progress bars, metrics logs); may be empty.
  std::function<void(const StepReport&)> after_step;
};

struct CnnTrainResult {
  double test_accuracy = 0;  // in [0, 1]
  double final_train_loss = 0;
  double seconds = 0;
  int64_t steps = 0;
};

// Trains `model` when given (fine-tuning a pre-trained or QAT-prepared model), else a fresh CNN.
CnnTrainResult train_cnn(const CnnTrainOptions& options, models::Cnn* model = nullptr);

// Images [N, 28, 28] u8 -> normalised f32 [N, 1, 28, 28] (Fashion-MNIST mean and std).
Tensor normalize_images(const uint8_t* pixels, int64_t n);
// Accuracy of `model` (put in eval mode) on normalised images and u8 labels. With a
// communicator of several ranks, each evaluates its share of the images and the counts are
// summed, so every rank returns the accuracy on all of them.
double evaluate_accuracy(models::Cnn& model, const Tensor& images, const uint8_t* labels,
                         parallel::Communicator* communicator = nullptr);

// Checkpoints that say what they hold: the CNN's architecture as checkpoint metadata ("arch" =
// "cnn", "model.channels1", "model.channels2", "model.hidden", "model.classes",
// "model.dropout"), so later commands (ptq, export) rebuild the model from the file alone.
std::map<std::string, std::string> cnn_architecture_metadata(const models::CnnConfig& config);
// The inverse; throws naming `source` (the checkpoint) and the key that is missing or malformed.
models::CnnConfig cnn_config_from_metadata(const std::map<std::string, std::string>& metadata,
                                           const std::string& source);
// Writes the model's parameters and buffers with that metadata (no optimizer state: the CNN
// trains in one call, so there is nothing to resume).
void save_cnn_checkpoint(const std::string& path, models::Cnn& model);

}  // namespace octet::train
