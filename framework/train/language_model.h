#pragma once
// Training a byte-level language model (GPT or LLaMA-style) on the King James text: the loop
// behind `lm_train`, the e2e tests, the resume test and the training benchmark.
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "framework/data/text.h"
#include "framework/models/gpt.h"
#include "framework/optim/optimizer.h"
#include "framework/parallel/communicator.h"
#include "framework/parallel/data_parallel.h"

namespace octet::train {

struct LmTrainOptions {
  std::string arch = "gpt";  // "gpt" or "llama"
  models::GptConfig model;
  int64_t batch = 16;
  int64_t steps = 1000;
  double lr = 1e-3, min_lr = 1e-4, weight_decay = 0.1, clip = 1.0;
  int64_t warmup = 100;
  uint64_t seed = 1;
  int64_t eval_windows = 64;  // validation windows of `model.block` bytes per evaluation
  // Called on the freshly built model before the optimizer collects its parameters (QAT's
  // prepare swaps layers and may add learned scales here). May be empty.
  std::function<void(nn::Module&)> prepare_model;
  // Data parallelism: `batch` is the global batch; each rank of `communicator` (null: the
  // process's parallel::world()) trains on its share of the rows every rank draws alike, and
  // DataParallel averages the gradients, so N ranks train the model one process would.
  parallel::Communicator* communicator = nullptr;
  parallel::DataParallelOptions data_parallel;
  int64_t accumulation_steps = 1;  // micro-batches per optimizer step, reduced once
  // Where the model trains: moved there after prepare_model, each batch copied there.
  Device device;
  // "fp32", or "bf16": each step's forward, loss and backward run under an AutocastGuard, so the
  // GEMMs of matmul and linear take bf16 operands and accumulate in f32 (torch.autocast's bf16);
  // parameters, gradients, the optimizer and evaluation stay f32.
  std::string precision = "fp32";
};

class LmTrainer {
 public:
  // `text` is shared so several trainers (tests) need not reload it.
  LmTrainer(const LmTrainOptions& options, std::shared_ptr<const TextDataset> text);

  // Runs one optimisation step (forward, backward, clip, schedule, AdamW); returns this rank's
  // loss (the global batch's in one process).
  double step();
  // Mean loss in nats/byte over the fixed validation windows (eval mode, no grad); with several
  // ranks each scores a share of the windows and every rank returns the mean over all of them.
  double validation_loss();
  int64_t steps_done() const { return step_; }
  // The learning rate the last step used (the schedule's value at its step).
  double last_lr() const { return schedule_.at(step_ > 0 ? step_ - 1 : 0); }

  // Collective: rank 0 writes the checkpoint, the others wait until it exists.
  void save(const std::string& path);
  void load(const std::string& path);
  // Starts from a checkpoint's weights with this trainer's fresh optimizer and step 0 (QAT
  // fine-tuning, PTQ); see io::load_model_weights.
  void load_weights(const std::string& path);
  // Runs the model without gradients on one training batch drawn from the data stream (PTQ
  // calibration); the model's mode is left as the caller set it.
  void forward_training_batch();

  models::LanguageModel& model() { return *model_; }
  optim::AdamW& optimizer() { return *optimizer_; }

 private:
  LmTrainOptions o_;
  std::shared_ptr<const TextDataset> text_;
  Generator init_gen_, data_gen_, dropout_gen_;
  std::unique_ptr<models::LanguageModel> model_;
  std::unique_ptr<optim::AdamW> optimizer_;
  optim::WarmupCosine schedule_;
  int64_t step_ = 0;
  bool bf16_ = false;  // options.precision == "bf16"
  parallel::Communicator* comm_;
  std::unique_ptr<parallel::DataParallel> data_parallel_;
};

// Checkpoints that say what they hold: LmTrainer::save writes the model's architecture as
// checkpoint metadata ("arch", "model.vocab", "model.dim", "model.layers", "model.heads",
// "model.block", "model.mlp_hidden" (0: the architecture's default), "model.dropout"), so later
// commands (ptq, export) rebuild the model from the file alone.
std::map<std::string, std::string> lm_architecture_metadata(const std::string& arch,
                                                            const models::GptConfig& config);
// Whether `metadata` holds the model's dims ("model.dim"); checkpoints saved before they were
// written hold only "arch".
bool has_lm_architecture(const std::map<std::string, std::string>& metadata);
// Sets options.arch and options.model from the metadata; throws naming `source` (the checkpoint)
// and the key that is missing or malformed.
void lm_architecture_from_metadata(const std::map<std::string, std::string>& metadata,
                                   const std::string& source, LmTrainOptions& options);

std::unique_ptr<models::LanguageModel> make_language_model(const std::string& arch,
                                                           const models::GptConfig& config,
                                                           Generator& gen);

}  // namespace octet::train
