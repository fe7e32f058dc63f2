#pragma once
// SmoothQuant (Xiao et al. 2023): move activation outliers into the weights before a W8A8
// scheme quantizes both. Per input channel j of the linears that consume one norm's output,
//   s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)
// (X over the calibration batches, W over every output row of every linear in the group; both
// floored at 1e-5), then the norm's weight (and LayerNorm's bias) is divided by s and every
// group linear's input column j multiplied by s_j: the FP32 function is unchanged up to rounding
// while the activations entering the linears lose their outlier channels.
//
// It operates on plain Linears: run it before qat::prepare / calibrate, then a W8A8 scheme
// quantizes the smoothed model.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "framework/nn/module.h"

namespace octet::qat {

// A norm and the linears that read its output, by dotted name.
struct SmoothGroup {
  std::string norm;                  // "blocks.0.ln1"
  std::vector<std::string> linears;  // {"blocks.0.attn.qkv"}
};

// The (norm -> consuming linears) pairs of the Gpt and Llama blocks of models/gpt.h:
//   Gpt    blocks.i.ln1 -> blocks.i.attn.qkv          blocks.i.ln2 -> blocks.i.fc
//   Llama  blocks.i.attn_norm -> blocks.i.attn.qkv    blocks.i.mlp_norm -> blocks.i.gate, .up
// in tree order. ln_f -> lm_head is left out (lm_head stays in full precision). Returns nothing
// for a model without such blocks.
std::vector<SmoothGroup> smooth_groups(const nn::Module& model);

// Per input channel max |x| of the inputs of each named Linear over forward_batch(i) for i in
// [0, batches), run without gradients; the linears are swapped for recording twins for the
// duration and put back (the same objects). Throws naming a name that is not a plain Linear.
std::map<std::string, std::vector<float>> record_input_absmax(
    nn::Module& model, const std::vector<std::string>& linears,
    const std::function<void(int64_t)>& forward_batch, int64_t batches);

// Divides the group's norm weight (and bias) by s and multiplies column j of every group
// linear's weight by s[j], in place (the tensors keep their identity); each result is computed in
// double and rounded once. s: positive and finite, one per input channel.
void fold_channel_scales(nn::Module& model, const SmoothGroup& group, const std::vector<double>& s);

// Records the groups' input statistics over the batches, then smooths every group with its own
// scales. alpha in [0, 1]; batches > 0. Throws naming the layer if a group's linear is not a
// plain Linear (prepare ran first) or the shapes of a group do not agree.
void smooth_quant(nn::Module& model, const std::vector<SmoothGroup>& groups,
                  const std::function<void(int64_t)>& forward_batch, int64_t batches,
                  double alpha = 0.5);

}  // namespace octet::qat
