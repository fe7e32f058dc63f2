#pragma once
// The QAT / PTQ flow on a model's module tree:
//   prepare   swaps every Linear and Conv2d (except skipped names) for its fake-quant twin
//   schedule  switches observers off (freeze) and fake-quant on (after a warm-up) by step
//   calibrate PTQ: observers on, fake-quant off, run batches, then freeze and switch on
// Embeddings and norms are never swapped: only Linear and Conv2d have twins.
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "framework/nn/module.h"
#include "qat/quant_layers.h"

namespace octet::qat {

struct QatConfig {
  LayerQuantConfig layers;  // for every swapped layer unless an override matches
  // A layer whose dotted name contains any of these is left in full precision. lm_head is
  // skipped by default: quantizing the logits' projection is the classic cause of garbage text.
  std::vector<std::string> skip = {"lm_head"};
  // (name fragment, config): the first whose fragment occurs in a layer's name wins.
  std::vector<std::pair<std::string, LayerQuantConfig>> overrides;
  // Set: Embedding tables (not skipped) become QuantEmbedding twins with this weight config.
  std::optional<TensorQuantConfig> embeddings = std::nullopt;
};

// Stores what the weights of a decoder mostly are, besides its blocks, in 8 bits too: embedding
// tables as int8 per row, and lm_head weight-only int8 per output channel (its input, the
// activations the logits amplify, stays f32). Removes "lm_head" from config.skip. Exports of
// small models then fit in about a quarter of their f32 size.
QatConfig with_int8_embeddings_and_head(QatConfig config);

// Returns the dotted names of the layers it swapped, in tree order. Throws if it finds a layer
// that is already a twin (prepare twice).
std::vector<std::string> prepare(nn::Module& root, const QatConfig& config);

// Every FakeQuantizer in the tree, with its dotted name.
std::vector<std::pair<std::string, FakeQuantizer*>> fake_quantizers(nn::Module& root);

void enable_observers(nn::Module& root, bool on);
void enable_fake_quant(nn::Module& root, bool on);

struct QatSchedule {
  int64_t fake_quant_from_step = 0;       // before it: observe only (warm-up)
  int64_t freeze_observers_at_step = -1;  // from it: statistics frozen; < 0 never
  // Sets both switches for `step`; call before each training step.
  void apply(nn::Module& root, int64_t step) const;
};

// PTQ calibration: runs `forward_batch(i)` for i in [0, batches) without gradients, the model in
// evaluation mode and its quantizers observing with fake-quant off; then freezes the observers
// and switches fake-quant on. forward_batch must not switch the model's mode itself.
void calibrate(nn::Module& root, int64_t batches,
               const std::function<void(int64_t)>& forward_batch);

}  // namespace octet::qat
