#pragma once
// Outlier features for the PTQ experiments, as LLM.int8()'s paper observes them in large
// transformers: a few hidden dimensions whose normalised activations are ~20x the rest. Made
// without training: scale the chosen dimensions of the norms that feed each block's linears by
// `factor` and divide the matching input columns of those linears by it, so the FP32 function is
// unchanged (up to rounding) while the activations entering the linears carry the outliers.
#include <cstdint>
#include <vector>

#include "framework/nn/module.h"

namespace octet::qat {

// For every block of a Gpt (ln1 -> attn.qkv, ln2 -> fc: LayerNorm weight and bias) or a Llama
// (attn_norm -> attn.qkv, mlp_norm -> gate and up: RMSNorm weight), i.e. every group of
// smooth_groups(model). dims: distinct, inside [0, dim); factor: positive and finite. Throws if
// the model has no such blocks.
void inject_outlier_features(nn::Module& gpt, const std::vector<int64_t>& dims,
                             double factor = 20.0);

}  // namespace octet::qat
