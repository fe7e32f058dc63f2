#pragma once
// Normalisations, embeddings, rotary positions and dropout.
#include "framework/random.h"
#include "framework/tensor/tensor.h"

namespace octet {

// Over the last dimension; weight and bias [D] (bias may be undefined).
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6);
// Rows of `weight` [V, D] picked by i64 `indices` (any shape) -> [..., D].
Tensor embedding(const Tensor& indices, const Tensor& weight);
// Rotary position embedding on x [B, H, T, D] (D even), rotating pairs (i, i + D/2) by angle
// pos * base^(-2i/D), positions starting at `offset` (for a KV cache).
Tensor rope(const Tensor& x, double base = 10000.0, int64_t offset = 0);
// Inverted dropout: zero with probability p, scale survivors by 1/(1-p); identity if !training.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);

}  // namespace octet
