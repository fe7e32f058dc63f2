#pragma once
// SmoothQuant (Xiao et al. 2023): move activation outliers into the weights before a W8A8
// scheme quantizes both. Per input channel j of the layers that consume one producer's output,
//   s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)
// (X over the calibration batches, W over every output row of every consumer in the group; both
// floored at 1e-5), then the producer's output channel j is divided by s_j and every consumer's
// input channel j multiplied by s_j: the FP32 function is unchanged up to rounding while the
// activations entering the consumers lose their outlier channels.
//
// Producers: a LayerNorm / RMSNorm (its gain, and LayerNorm's bias; the transformer blocks), or a
// Linear / Conv2d (output row / filter j and bias j; the CNN), which is exact when only positively
// homogeneous ops lie between producer and consumers: relu(z / s) = relu(z) / s and max-pool and
// dropout commute with a positive per-channel scale. Consumers: Linear (input column j) or Conv2d
// (the weight's input-channel slice [:, j, :, :]; its statistic is per channel over batch and
// space). A flatten of [C, H, W] between a Conv2d producer and a Linear consumer maps channel c to
// the columns [c*H*W, (c+1)*H*W): the group then has columns_per_channel = H*W, its statistics are
// taken per channel over those columns and s_c multiplies all of them.
//
// It operates on plain layers: run it before qat::prepare / calibrate, then a W8A8 scheme
// quantizes the smoothed model.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "framework/nn/module.h"

namespace octet::qat {

// A producer and the layers that read its output channels, by dotted name. The fields keep the
// names of the transformer groups they first described.
struct SmoothGroup {
  std::string norm;                  // the producer: "blocks.0.ln1", or "conv1" in the CNN
  std::vector<std::string> linears;  // the consumers: {"blocks.0.attn.qkv"}, or {"conv2"}
  // Consumer input columns per producer channel: 1, or H*W when a Linear consumer reads a
  // flattened [C, H, W] map (channel c -> columns [c*H*W, (c+1)*H*W)). Conv2d consumers take 1.
  int64_t columns_per_channel = 1;
};

// The (norm -> consuming linears) pairs of the Gpt and Llama blocks of models/gpt.h:
//   Gpt    blocks.i.ln1 -> blocks.i.attn.qkv          blocks.i.ln2 -> blocks.i.fc
//   Llama  blocks.i.attn_norm -> blocks.i.attn.qkv    blocks.i.mlp_norm -> blocks.i.gate, .up
// in tree order. ln_f -> lm_head is left out (lm_head stays in full precision). For the CNN of
// models/cnn.h, every producer -> consumer pair of its chain (ReLU, max-pool and dropout between):
//   conv1 -> conv2     conv2 -> fc1 (flatten: columns_per_channel = 7*7)     fc1 -> fc2
// conv1's input, the image, has no producer. Returns nothing for any other model.
std::vector<SmoothGroup> smooth_groups(const nn::Module& model);

// Per input column max |x| of the inputs of each named Linear (per input channel, over batch and
// space, for a Conv2d) over forward_batch(i) for i in [0, batches), run without gradients; the
// layers are swapped for recording twins for the duration and put back (the same objects).
// Throws naming a name that is not a plain Linear or Conv2d.
std::map<std::string, std::vector<float>> record_input_absmax(
    nn::Module& model, const std::vector<std::string>& linears,
    const std::function<void(int64_t)>& forward_batch, int64_t batches);

// Divides the producer's output channel j (norm gain and bias; Linear row and bias; Conv2d filter
// and bias) by s[j] and multiplies every consumer's input channel j (its columns_per_channel
// columns of a Linear, the [:, j] slice of a Conv2d) by s[j], in place (the tensors keep their
// identity); each result is computed in double and rounded once. s: positive and finite, one per
// producer channel.
void fold_channel_scales(nn::Module& model, const SmoothGroup& group, const std::vector<double>& s);

// Records the groups' input statistics over the batches, computes every group's scales from the
// model as it is (a layer that is one group's consumer and the next one's producer, as in the
// CNN, gets both scales from its unsmoothed weight), then folds them all. alpha in [0, 1];
// batches > 0. Throws naming the layer if a group's consumer is not a plain Linear or Conv2d
// (prepare ran first) or the shapes of a group do not agree.
void smooth_quant(nn::Module& model, const std::vector<SmoothGroup>& groups,
                  const std::function<void(int64_t)>& forward_batch, int64_t batches,
                  double alpha = 0.5);

}  // namespace octet::qat
