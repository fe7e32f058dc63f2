#pragma once
// The byte-level decoders of framework/models/gpt.h, deployed: GPT (pre-LN, learned positions,
// GELU MLP) and LLaMA (RMSNorm, RoPE, SwiGLU). Every linear layer runs the kernel its model-file
// entry asks for; keys and values are cached, so generation costs one token per step.
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/embedding_table.h"
#include "runtime/linear_op.h"
#include "runtime/model_file.h"

namespace octet::runtime {

// The KV cache of `batch` sequences advancing together.
struct DecoderSession {
  int64_t batch = 1;
  int64_t capacity = 0;             // positions per sequence
  int64_t position = 0;             // tokens consumed so far
  std::vector<float> keys, values;  // [layers, batch, heads, capacity, head_dim]
};

class TransformerRuntime {
 public:
  // `file` must outlive the runtime (f32 weights stay in its mapping). Throws naming the file and
  // the tensor when the file does not hold the decoder its architecture declares.
  explicit TransformerRuntime(const ModelFile& file);

  const proto::TransformerArch& arch() const { return arch_; }
  // A fresh cache for `batch` sequences of up to `capacity` tokens (0: the model's context).
  DecoderSession start(int64_t batch, int64_t capacity = 0) const;
  // Appends tokens [batch, count] (row-major, values in [0, vocab)) to every sequence and writes
  // logits [batch, count, vocab], or only each sequence's last position ([batch, vocab]) when
  // `last_only`. Throws when the cache would overflow or a token is out of range.
  void forward(DecoderSession& session, const int64_t* tokens, int64_t count, float* logits,
               bool last_only = false) const;

  std::vector<std::string> describe() const;  // one line per linear layer
  size_t resident_bytes() const;              // outside the file mapping, without caches

 private:
  struct Block {
    const float* norm1_weight = nullptr;
    const float* norm1_bias = nullptr;  // GPT only
    const float* norm2_weight = nullptr;
    const float* norm2_bias = nullptr;
    LinearOp qkv, proj;
    LinearOp fc, out;   // GPT: fc -> GELU -> out ("proj"); LLaMA: out is "down"
    LinearOp gate, up;  // LLaMA only
  };
  void norm(const float* x, int64_t rows, const float* weight, const float* bias, float* y) const;
  void attention_block(const Block& b, int64_t layer, DecoderSession& s, int64_t count,
                       std::vector<float>& x) const;
  void mlp_block(const Block& b, int64_t rows, std::vector<float>& x) const;

  proto::TransformerArch arch_;
  bool llama_ = false;
  int64_t head_dim_ = 0, hidden_ = 0;
  std::string path_;
  EmbeddingTable token_embedding_;     // [vocab, dim]
  EmbeddingTable position_embedding_;  // [block, dim], GPT only (rows() == 0 for LLaMA)
  const float* final_norm_weight_ = nullptr;
  const float* final_norm_bias_ = nullptr;
  std::vector<Block> blocks_;
  LinearOp lm_head_;
};

}  // namespace octet::runtime
