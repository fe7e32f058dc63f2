#include "framework/models/gpt.h"

#include <cmath>

#include "framework/functional/arithmetic.h"
#include "framework/functional/norm.h"
#include "framework/functional/softmax.h"

namespace octet::models {
namespace {

// GPT-2's initialisation: N(0, 0.02), residual projections scaled down by sqrt(2 * layers) so
// the residual stream's variance does not grow with depth.
nn::Init init_std() { return {0.02}; }
nn::Init residual_init(const GptConfig& c) {
  return {0.02 / std::sqrt(2.0 * static_cast<double>(c.layers))};
}

void check_tokens(const Tensor& tokens, const GptConfig& c) {
  OCTET_CHECK(tokens.dim() == 2 && tokens.dtype() == DType::i64, "gpt",
              "expects tokens i64 [B, T], got ", tokens.str());
  OCTET_CHECK(tokens.size(1) <= c.block, "gpt", "sequence of ", tokens.size(1),
              " tokens exceeds the context of ", c.block);
}

}  // namespace

Tensor lm_loss(const Tensor& logits, const Tensor& targets) {
  return cross_entropy(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}));
}

CausalSelfAttention::CausalSelfAttention(const GptConfig& c, bool rotary, bool bias, Generator& gen)
    : heads_(c.heads), rotary_(rotary) {
  OCTET_CHECK(c.dim % c.heads == 0, "attention", "dim ", c.dim, " not divisible by ", c.heads,
              " heads");
  qkv_ =
      register_module("qkv", std::make_shared<nn::Linear>(c.dim, 3 * c.dim, bias, gen, init_std()));
  proj_ = register_module("proj",
                          std::make_shared<nn::Linear>(c.dim, c.dim, bias, gen, residual_init(c)));
}

Tensor CausalSelfAttention::forward(const Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1), D = x.size(2), hd = D / heads_;
  // [B, T, 3, H, hd] -> three [B, H, T, hd] views.
  Tensor qkv = qkv_->forward(x).reshape({B, T, 3, heads_, hd}).permute({2, 0, 3, 1, 4});
  Tensor q = qkv.slice(0, 0, 1).reshape({B, heads_, T, hd});
  Tensor k = qkv.slice(0, 1, 2).reshape({B, heads_, T, hd});
  Tensor v = qkv.slice(0, 2, 3).reshape({B, heads_, T, hd});
  if (rotary_) {
    q = rope(q);
    k = rope(k);
  }
  Tensor y = causal_attention(q, k, v).transpose(1, 2).reshape({B, T, D});
  return proj_->forward(y);
}

// ---- GPT ----------------------------------------------------------------------------------------

class Gpt::Block : public nn::Module {
 public:
  Block(const GptConfig& c, Generator& gen) : dropout_(c.dropout) {
    ln1_ = register_module("ln1", std::make_shared<nn::LayerNorm>(c.dim));
    attn_ = register_module("attn", std::make_shared<CausalSelfAttention>(c, false, true, gen));
    ln2_ = register_module("ln2", std::make_shared<nn::LayerNorm>(c.dim));
    const int64_t hidden = c.mlp_hidden ? c.mlp_hidden : 4 * c.dim;
    fc_ = register_module("fc", std::make_shared<nn::Linear>(c.dim, hidden, true, gen, init_std()));
    proj_ = register_module(
        "proj", std::make_shared<nn::Linear>(hidden, c.dim, true, gen, residual_init(c)));
  }
  std::string type_name() const override { return "GptBlock"; }
  Tensor forward(const Tensor& x, Generator& gen) {
    Tensor h = add(x, dropout(attn_->forward(ln1_->forward(x)), dropout_, is_training(), gen));
    Tensor m = proj_->forward(gelu(fc_->forward(ln2_->forward(h))));
    return add(h, dropout(m, dropout_, is_training(), gen));
  }

 private:
  double dropout_;
  nn::Child<nn::LayerNorm> ln1_, ln2_;
  nn::Child<CausalSelfAttention> attn_;
  nn::Child<nn::Linear> fc_, proj_;
};

Gpt::Gpt(const GptConfig& c, Generator& gen) : config_(c) {
  wte_ = register_module("wte", std::make_shared<nn::Embedding>(c.vocab, c.dim, gen));
  wpe_ = register_module("wpe", std::make_shared<nn::Embedding>(c.block, c.dim, gen));
  auto blocks = std::make_shared<nn::ModuleList<Block>>();
  for (int64_t i = 0; i < c.layers; ++i) blocks->push_back(std::make_shared<Block>(c, gen));
  blocks_ = register_module("blocks", blocks);
  ln_f_ = register_module("ln_f", std::make_shared<nn::LayerNorm>(c.dim));
  lm_head_ = register_module("lm_head",
                             std::make_shared<nn::Linear>(c.dim, c.vocab, false, gen, init_std()));
}

Tensor Gpt::forward(const Tensor& tokens, Generator& gen) {
  check_tokens(tokens, config_);
  const int64_t T = tokens.size(1);
  Tensor pos = Tensor::arange(T, DType::i64).to(tokens.device());
  Tensor x = add(wte_->forward(tokens), wpe_->forward(pos));
  x = dropout(x, config_.dropout, is_training(), gen);
  for (size_t i = 0; i < blocks_->size(); ++i) x = (*blocks_)[i].forward(x, gen);
  return lm_head_->forward(ln_f_->forward(x));
}

// ---- LLaMA --------------------------------------------------------------------------------------

class Llama::Block : public nn::Module {
 public:
  Block(const GptConfig& c, Generator& gen) {
    // SwiGLU keeps the parameter count of a 4x MLP with a hidden size of 8/3 * dim.
    const int64_t hidden = c.mlp_hidden ? c.mlp_hidden : (8 * c.dim / 3 + 63) / 64 * 64;
    attn_norm_ = register_module("attn_norm", std::make_shared<nn::RMSNorm>(c.dim));
    attn_ = register_module("attn", std::make_shared<CausalSelfAttention>(c, true, false, gen));
    mlp_norm_ = register_module("mlp_norm", std::make_shared<nn::RMSNorm>(c.dim));
    gate_ = register_module("gate",
                            std::make_shared<nn::Linear>(c.dim, hidden, false, gen, init_std()));
    up_ =
        register_module("up", std::make_shared<nn::Linear>(c.dim, hidden, false, gen, init_std()));
    down_ = register_module(
        "down", std::make_shared<nn::Linear>(hidden, c.dim, false, gen, residual_init(c)));
  }
  std::string type_name() const override { return "LlamaBlock"; }
  Tensor forward(const Tensor& x) {
    Tensor h = add(x, attn_->forward(attn_norm_->forward(x)));
    Tensor n = mlp_norm_->forward(h);
    return add(h, down_->forward(mul(silu(gate_->forward(n)), up_->forward(n))));
  }

 private:
  nn::Child<nn::RMSNorm> attn_norm_, mlp_norm_;
  nn::Child<CausalSelfAttention> attn_;
  nn::Child<nn::Linear> gate_, up_, down_;
};

Llama::Llama(const GptConfig& c, Generator& gen) : config_(c) {
  tok_ = register_module("tok", std::make_shared<nn::Embedding>(c.vocab, c.dim, gen));
  auto blocks = std::make_shared<nn::ModuleList<Block>>();
  for (int64_t i = 0; i < c.layers; ++i) blocks->push_back(std::make_shared<Block>(c, gen));
  blocks_ = register_module("blocks", blocks);
  norm_ = register_module("norm", std::make_shared<nn::RMSNorm>(c.dim));
  lm_head_ = register_module("lm_head",
                             std::make_shared<nn::Linear>(c.dim, c.vocab, false, gen, init_std()));
}

Tensor Llama::forward(const Tensor& tokens, Generator& gen) {
  check_tokens(tokens, config_);
  Tensor x = tok_->forward(tokens);
  for (size_t i = 0; i < blocks_->size(); ++i) x = (*blocks_)[i].forward(x);
  return lm_head_->forward(norm_->forward(x));
}

}  // namespace octet::models
