#pragma once
// Causal self-attention against a KV cache: the new queries of this step attend to every cached
// position up to their own. One kernel serves prefill (T new tokens) and decoding (T = 1).
#include <cstdint>

namespace octet::runtime {

struct AttentionShape {
  int64_t batch = 1, tokens = 1, heads = 1, head_dim = 1;
  int64_t capacity = 0;  // positions the cache holds per sequence
  int64_t position = 0;  // cache position of the first new token
};

// q: [batch, tokens, heads, head_dim] with `q_row_stride` elements between consecutive tokens
// (the fused qkv projection's row). k_cache, v_cache: [batch, heads, capacity, head_dim], holding
// positions [0, position + tokens). out: [batch, tokens, heads * head_dim], contiguous.
// softmax(q k^T / sqrt(head_dim)) v with the same exp and normalisation as the training kernels.
void cached_attention(const float* q, int64_t q_row_stride, const float* k_cache,
                      const float* v_cache, const AttentionShape& s, float* out);

}  // namespace octet::runtime
