#pragma once
// Decoder-only transformers over a byte vocabulary: GPT (pre-LN, learned positions, GELU MLP)
// and a LLaMA-style decoder (RMSNorm, RoPE, SwiGLU), behind one interface.
#include "framework/nn/layers.h"

namespace octet::models {

struct GptConfig {
  int64_t vocab = 256, block = 128, layers = 4, heads = 4, dim = 256;
  int64_t mlp_hidden = 0;  // 0: 4 * dim for GPT, 8/3 * dim rounded to 64 for LLaMA
  double dropout = 0.0;
};

class LanguageModel : public nn::Module {
 public:
  // tokens i64 [B, T] -> logits [B, T, vocab]
  virtual Tensor forward(const Tensor& tokens, Generator& gen) = 0;
  virtual const GptConfig& config() const = 0;
};

// Mean next-token cross-entropy of logits [B, T, V] against targets i64 [B, T].
Tensor lm_loss(const Tensor& logits, const Tensor& targets);

class CausalSelfAttention : public nn::Module {
 public:
  CausalSelfAttention(const GptConfig& c, bool rotary, bool bias, Generator& gen);
  std::string type_name() const override { return "CausalSelfAttention"; }
  Tensor forward(const Tensor& x);  // [B, T, D] -> [B, T, D]

 private:
  int64_t heads_;
  bool rotary_;
  nn::Child<nn::Linear> qkv_, proj_;
};

class Gpt : public LanguageModel {
 public:
  Gpt(const GptConfig& config, Generator& gen);
  std::string type_name() const override { return "Gpt"; }
  Tensor forward(const Tensor& tokens, Generator& gen) override;
  const GptConfig& config() const override { return config_; }

 private:
  class Block;
  GptConfig config_;
  nn::Child<nn::Embedding> wte_, wpe_;
  nn::Child<nn::ModuleList<Block>> blocks_;
  nn::Child<nn::LayerNorm> ln_f_;
  nn::Child<nn::Linear> lm_head_;
};

class Llama : public LanguageModel {
 public:
  Llama(const GptConfig& config, Generator& gen);
  std::string type_name() const override { return "Llama"; }
  Tensor forward(const Tensor& tokens, Generator& gen) override;
  const GptConfig& config() const override { return config_; }

 private:
  class Block;
  GptConfig config_;
  nn::Child<nn::Embedding> tok_;
  nn::Child<nn::ModuleList<Block>> blocks_;
  nn::Child<nn::RMSNorm> norm_;
  nn::Child<nn::Linear> lm_head_;
};

}  // namespace octet::models
