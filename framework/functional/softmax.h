#pragma once
// Softmax family over the last dimension, the fused cross-entropy, and causal attention.
#include "framework/tensor/tensor.h"

namespace octet {

Tensor softmax(const Tensor& x);      // over the last dimension
Tensor log_softmax(const Tensor& x);  // over the last dimension
// Mean over rows of -log_softmax(logits)[target]: logits [N, C] f32/f64, targets i64 [N].
// One fused pass forward; the backward is (softmax - onehot) / N. Rows whose target equals
// `ignore_index` are left out of the mean.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100);
// softmax(scores) with positions j > i (of the last two dims [.., T, T]) masked out: the fused
// mask + softmax of causal attention.
Tensor causal_softmax(const Tensor& scores);
// Causal self-attention: q, k, v [B, H, T, D] -> [B, H, T, D], scaled by 1/sqrt(D).
Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v);

}  // namespace octet
