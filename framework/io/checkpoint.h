#pragma once
// Training checkpoints: parameters, buffers, optimizer state, step and RNG states in one tensor
// archive, written atomically. Loading restores everything needed for a bitwise-identical resume.
#include <map>
#include <string>

#include "framework/nn/module.h"
#include "framework/optim/optimizer.h"
#include "framework/random.h"

namespace octet::io {

struct TrainingState {
  nn::Module* model = nullptr;
  optim::Optimizer* optimizer = nullptr;         // may be null
  std::map<std::string, Generator*> generators;  // e.g. {"data": &data_gen, "dropout": &gen}
  int64_t step = 0;
  std::map<std::string, std::string> metadata;  // free-form (config), saved and restored
};

void save_checkpoint(const std::string& path, const TrainingState& state);
// Fills `state` (its model, optimizer and generators must already exist, shaped like the saved
// ones). Errors name the file, the tensor and the reason.
void load_checkpoint(const std::string& path, TrainingState& state);

// Loads only the model's weights from a checkpoint, to start from a trained model with a new
// optimizer (QAT fine-tuning, PTQ): every parameter and buffer the checkpoint holds must exist in
// `model` with its shape, while tensors the checkpoint lacks (fake-quant state that prepare
// added) keep their values. The model types must match. Returns how many tensors were loaded.
int64_t load_model_weights(const std::string& path, nn::Module& model);

// The TrainingState::metadata a checkpoint was saved with (its config: architecture, dims), read
// without building anything. Errors name the file and the reason.
std::map<std::string, std::string> checkpoint_metadata(const std::string& path);

// metadata[key] parsed as a number; throws naming `source` (the file), the key and the reason.
double metadata_number(const std::map<std::string, std::string>& metadata, const std::string& key,
                       const std::string& source);

}  // namespace octet::io
