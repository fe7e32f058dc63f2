#pragma once
// `--device` and `--precision` of `octet train`: where the model trains and whether its GEMMs run
// under bf16 autocast. Both are parsed and checked before any data is read, so a typo or a
// missing GPU fails within a second (exit 2 for a bad value, 1 for a device this machine lacks)
// rather than after the data set has loaded.
#include <CLI/CLI.hpp>
#include <string>

#include "framework/train/image_classifier.h"
#include "framework/train/language_model.h"
#include "ops/view.h"

namespace octet::tools {

// The flags as typed; an empty precision was not given (a recipe's, else fp32).
struct TrainTargetArgs {
  std::string device = "cpu";
  std::string precision;
};

// Adds --device and --precision to `cmd`, stored in `args` (several commands may share one).
void add_train_target_options(CLI::App* cmd, TrainTargetArgs& args);

// "cpu", "cuda" (this rank's GPU: cuda:<local rank>, the GPU the NCCL backend gives the rank) or
// "cuda:N"; anything else throws UsageError "--device: 'gpu' is not cpu, cuda or cuda:N".
Device parse_device_flag(const std::string& text, int local_rank);

// Throws Error unless `device` is usable here: the CPU always is; a CUDA device needs a build
// with the CUDA backend and a visible GPU of that index, and the message says which is missing.
void require_training_device(const Device& device);

// "fp32" or "bf16"; anything else throws UsageError "--precision: 'fp16' is not fp32 or bf16".
void check_precision_flag(const std::string& text);

// The flags parsed and checked (the local rank comes from the launcher's environment).
// precision: "fp32", "bf16", or empty when the flag was not given, which keeps what the options
// already say (a recipe's precision, else fp32).
struct TrainTarget {
  Device device;
  std::string precision;
};
TrainTarget resolve_train_target(const TrainTargetArgs& args);

// Puts the target into a training loop's options. The CNN trains in fp32 only: autocast covers
// matmul and linear but not conv2d, which does most of the CNN's work, so bf16 there would be
// bf16 in name only; it throws UsageError instead.
void apply_train_target(const TrainTarget& target, train::CnnTrainOptions& options);
void apply_train_target(const TrainTarget& target, train::LmTrainOptions& options);

// " on cuda:0, bf16 autocast" and the like for a run's summary line; "" for cpu and fp32.
std::string describe_train_target(const Device& device, const std::string& precision);

}  // namespace octet::tools
