#include "runtime/transformer_runtime.h"

#include <algorithm>

#include "ops/cpu/elementwise.h"
#include "ops/cpu/norm.h"
#include "ops/cpu/rope.h"
#include "ops/error.h"
#include "runtime/attention.h"
#include "runtime/scratch.h"

namespace octet::runtime {
namespace {

// The training model's constants (framework/nn/layers.h, framework/functional/norm.h).
constexpr double kLayerNormEps = 1e-5;
constexpr double kRmsNormEps = 1e-6;
constexpr double kRopeBase = 10000.0;

View rows_view(const float* p, int64_t rows, int64_t cols) {
  return View{const_cast<float*>(p), DType::f32, {}, {rows, cols}, {cols, 1}};
}

void add_inplace(float* x, const float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace

TransformerRuntime::TransformerRuntime(const ModelFile& file) : path_(file.path()) {
  const proto::QModel& h = file.header();
  OCTET_CHECK(h.has_transformer(), "qmodel", path_, ": not a transformer model");
  arch_ = h.transformer();
  llama_ = arch_.family() == proto::TransformerArch::LLAMA;
  const int64_t V = arch_.vocab(), D = arch_.dim(), H = arch_.heads();
  OCTET_CHECK(V > 0 && D > 0 && H > 0 && D % H == 0 && arch_.block() > 0 && arch_.layers() > 0 &&
                  arch_.mlp_hidden() > 0 && (!llama_ || (D / H) % 2 == 0),
              "qmodel", path_, ": inconsistent transformer architecture (vocab ", V, ", dim ", D,
              ", heads ", H, ", block ", arch_.block(), ", layers ", arch_.layers(),
              ", mlp_hidden ", arch_.mlp_hidden(), ")");
  head_dim_ = D / H;
  hidden_ = arch_.mlp_hidden();
  auto vec = [&](const std::string& name) {
    return file.tensor(name, DType::f32, {D}).ptr<const float>();
  };
  if (llama_) {
    token_embedding_ = EmbeddingTable::load(file, "tok", V, D);
    final_norm_weight_ = vec("norm.weight");
  } else {
    token_embedding_ = EmbeddingTable::load(file, "wte", V, D);
    position_embedding_ = EmbeddingTable::load(file, "wpe", arch_.block(), D);
    final_norm_weight_ = vec("ln_f.weight");
    final_norm_bias_ = vec("ln_f.bias");
  }
  const bool bias = !llama_;
  for (int64_t i = 0; i < arch_.layers(); ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    Block b;
    b.qkv = LinearOp::load(file, p + "attn.qkv", {3 * D, D}, bias);
    b.proj = LinearOp::load(file, p + "attn.proj", {D, D}, bias);
    if (llama_) {
      b.norm1_weight = vec(p + "attn_norm.weight");
      b.norm2_weight = vec(p + "mlp_norm.weight");
      b.gate = LinearOp::load(file, p + "gate", {hidden_, D}, false);
      b.up = LinearOp::load(file, p + "up", {hidden_, D}, false);
      b.out = LinearOp::load(file, p + "down", {D, hidden_}, false);
    } else {
      b.norm1_weight = vec(p + "ln1.weight");
      b.norm1_bias = vec(p + "ln1.bias");
      b.norm2_weight = vec(p + "ln2.weight");
      b.norm2_bias = vec(p + "ln2.bias");
      b.fc = LinearOp::load(file, p + "fc", {hidden_, D}, true);
      b.out = LinearOp::load(file, p + "proj", {D, hidden_}, true);
    }
    blocks_.push_back(std::move(b));
  }
  lm_head_ = LinearOp::load(file, "lm_head", {V, D}, false);
}

DecoderSession TransformerRuntime::start(int64_t batch, int64_t capacity) const {
  if (capacity == 0) capacity = arch_.block();
  OCTET_CHECK(batch > 0 && capacity > 0 && capacity <= arch_.block(), "runtime",
              "a decoder session needs batch > 0 and 0 < capacity <= the context of ",
              arch_.block(), ", got batch ", batch, ", capacity ", capacity);
  DecoderSession s;
  s.batch = batch;
  s.capacity = capacity;
  const size_t n = static_cast<size_t>(arch_.layers() * batch * capacity * arch_.dim());
  s.keys.assign(n, 0.0f);
  s.values.assign(n, 0.0f);
  return s;
}

void TransformerRuntime::norm(const float* x, int64_t rows, const float* weight, const float* bias,
                              float* y) const {
  thread_local std::vector<float> mean, rstd;
  grow(mean, rows);
  grow(rstd, rows);
  const int64_t D = arch_.dim();
  const View w{const_cast<float*>(weight), DType::f32, {}, {D}, {1}};
  const View r{rstd.data(), DType::f32, {}, {rows}, {1}};
  if (llama_) {
    cpu::rms_norm_forward(rows_view(x, rows, D), w, kRmsNormEps, rows_view(y, rows, D), r);
  } else {
    const View b{const_cast<float*>(bias), DType::f32, {}, {D}, {1}};
    const View m{mean.data(), DType::f32, {}, {rows}, {1}};
    cpu::layer_norm_forward(rows_view(x, rows, D), w, &b, kLayerNormEps, rows_view(y, rows, D), m,
                            r);
  }
}

void TransformerRuntime::attention_block(const Block& b, int64_t layer, DecoderSession& s,
                                         int64_t count, std::vector<float>& x) const {
  const int64_t B = s.batch, T = count, D = arch_.dim(), H = arch_.heads(), hd = head_dim_;
  const int64_t rows = B * T, pos = s.position;
  thread_local std::vector<float> h, qkv, att;
  grow(h, rows * D);
  grow(qkv, rows * 3 * D);
  grow(att, rows * D);
  norm(x.data(), rows, b.norm1_weight, b.norm1_bias, h.data());
  b.qkv.forward(h.data(), rows, qkv.data());
  if (llama_) {
    // q and k as [B, H, T, hd] windows into the fused rows, rotated in place from position pos.
    for (int64_t part = 0; part < 2; ++part) {
      const View v{qkv.data() + part * D, DType::f32, {}, {B, H, T, hd}, {T * 3 * D, hd, 3 * D, 1}};
      cpu::rope(v, kRopeBase, pos, false, v);
    }
  }
  const int64_t layer_offset = layer * B * H * s.capacity * hd;
  float* kc = s.keys.data() + layer_offset;
  float* vc = s.values.data() + layer_offset;
  // The scratch vectors are thread_local: OpenMP workers must see this thread's, by pointer.
  const float* fused = qkv.data();
#pragma omp parallel for collapse(3) schedule(static)
  for (int64_t bi = 0; bi < B; ++bi)
    for (int64_t hi = 0; hi < H; ++hi)
      for (int64_t t = 0; t < T; ++t) {
        const float* row = fused + (bi * T + t) * 3 * D + hi * hd;
        const int64_t at = ((bi * H + hi) * s.capacity + pos + t) * hd;
        std::copy_n(row + D, hd, kc + at);
        std::copy_n(row + 2 * D, hd, vc + at);
      }
  AttentionShape shape{B, T, H, hd, s.capacity, pos};
  cached_attention(qkv.data(), 3 * D, kc, vc, shape, att.data());
  b.proj.forward(att.data(), rows, h.data());
  add_inplace(x.data(), h.data(), rows * D);
}

void TransformerRuntime::mlp_block(const Block& b, int64_t rows, std::vector<float>& x) const {
  const int64_t D = arch_.dim(), F = hidden_;
  thread_local std::vector<float> h, f, g;
  grow(h, rows * D);
  grow(f, rows * F);
  norm(x.data(), rows, b.norm2_weight, b.norm2_bias, h.data());
  const View fv{f.data(), DType::f32, {}, {rows * F}, {1}};
  if (llama_) {
    grow(g, rows * F);
    b.gate.forward(h.data(), rows, f.data());
    b.up.forward(h.data(), rows, g.data());
    cpu::unary(cpu::UnaryOp::silu, fv, fv);
    const View gv{g.data(), DType::f32, {}, {rows * F}, {1}};
    cpu::binary(cpu::BinaryOp::mul, fv, gv, fv);
  } else {
    b.fc.forward(h.data(), rows, f.data());
    cpu::unary(cpu::UnaryOp::gelu, fv, fv);
  }
  b.out.forward(f.data(), rows, h.data());
  add_inplace(x.data(), h.data(), rows * D);
}

void TransformerRuntime::forward(DecoderSession& s, const int64_t* tokens, int64_t count,
                                 float* logits, bool last_only) const {
  const int64_t B = s.batch, D = arch_.dim(), V = arch_.vocab(), rows = B * count;
  OCTET_CHECK(count > 0 && s.position + count <= s.capacity, "runtime", path_, ": ", count,
              " tokens at position ", s.position, " overflow the session's ", s.capacity,
              "-token cache");
  std::vector<float> x(rows * D), position(D);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t tok = tokens[r];
    OCTET_CHECK(tok >= 0 && tok < V, "runtime", path_, ": token ", tok, " at index ", r,
                " is outside the vocabulary of ", V);
    token_embedding_.lookup(tok, x.data() + r * D);
    if (position_embedding_.rows() > 0) {
      position_embedding_.lookup(s.position + r % count, position.data());
      for (int64_t d = 0; d < D; ++d) x[r * D + d] += position[d];
    }
  }
  for (size_t i = 0; i < blocks_.size(); ++i) {
    attention_block(blocks_[i], static_cast<int64_t>(i), s, count, x);
    mlp_block(blocks_[i], rows, x);
  }
  s.position += count;
  // Only the rows whose logits are wanted go through the final norm and the vocabulary GEMM.
  std::vector<float> last;
  const float* head_in = x.data();
  int64_t head_rows = rows;
  if (last_only) {
    last.resize(B * D);
    for (int64_t bi = 0; bi < B; ++bi)
      std::copy_n(x.data() + ((bi + 1) * count - 1) * D, D, last.data() + bi * D);
    head_in = last.data();
    head_rows = B;
  }
  std::vector<float> normed(head_rows * D);
  norm(head_in, head_rows, final_norm_weight_, final_norm_bias_, normed.data());
  lm_head_.forward(normed.data(), head_rows, logits);
}

std::vector<std::string> TransformerRuntime::describe() const {
  std::vector<std::string> lines;
  lines.push_back((llama_ ? "tok: " : "wte: ") + token_embedding_.describe());
  if (position_embedding_.rows() > 0) lines.push_back("wpe: " + position_embedding_.describe());
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const Block& b = blocks_[i];
    const std::string p = "blocks." + std::to_string(i) + ".";
    lines.push_back(p + "attn.qkv: " + b.qkv.describe());
    lines.push_back(p + "attn.proj: " + b.proj.describe());
    if (llama_) {
      lines.push_back(p + "gate: " + b.gate.describe());
      lines.push_back(p + "up: " + b.up.describe());
      lines.push_back(p + "down: " + b.out.describe());
    } else {
      lines.push_back(p + "fc: " + b.fc.describe());
      lines.push_back(p + "proj: " + b.out.describe());
    }
  }
  lines.push_back("lm_head: " + lm_head_.describe());
  return lines;
}

size_t TransformerRuntime::resident_bytes() const {
  size_t n = lm_head_.resident_bytes();
  for (const Block& b : blocks_)
    n += b.qkv.resident_bytes() + b.proj.resident_bytes() + b.fc.resident_bytes() +
         b.out.resident_bytes() + b.gate.resident_bytes() + b.up.resident_bytes();
  return n;
}

}  // namespace octet::runtime
