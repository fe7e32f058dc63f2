#include "runtime/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/cpu/fast_math.h"
#include "ops/cpu/gemm.h"
#include "ops/error.h"

namespace octet::runtime {

namespace {

// p[j] = e^(scale * (p[j] - max p)) over one query's visible scores, as the training kernels'
// softmax computes it; returns 1 / sum, the normalisation still to apply.
float exp_scores(float* p, int64_t visible, float scale) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < visible; ++j) m = p[j] > m ? p[j] : m;
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < visible; ++j) {
    p[j] = cpu::fast_exp(scale * (p[j] - m));
    sum += p[j];
  }
  return 1.0f / sum;
}

// Query rows per task of a prefill: a block of queries sees only the keys up to its last row, so
// blocks skip most of the causal mask's zeros (at 256 tokens, 4 blocks compute 62% of the full
// score matrix), and B x H x blocks tasks keep both threads busy without a parallel region (and
// its barrier) per GEMM.
constexpr int64_t kQueryBlock = 64;

// Many new tokens (a prefill): per sequence, head and block of queries, scores = q k^T and
// out = p v as two GEMMs on oneDNN (each on one thread: the tasks are the parallelism), with the
// causal softmax in between, instead of one dot product at a time.
void attention_by_gemms(const float* q, int64_t q_row_stride, const float* k_cache,
                        const float* v_cache, const AttentionShape& s, float* out) {
  const int64_t hd = s.head_dim, D = s.heads * hd, T = s.tokens;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const int64_t blocks = (T + kQueryBlock - 1) / kQueryBlock;
  const int64_t tasks = s.batch * s.heads * blocks;
#pragma omp parallel
  {
    std::vector<float> scores(kQueryBlock * (s.position + T));
    float* sc = scores.data();
    // Later blocks see more keys; dynamic scheduling evens the threads' shares.
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = tasks - 1; task >= 0; --task) {
      const int64_t b = task / (s.heads * blocks), h = task / blocks % s.heads;
      const int64_t t0 = task % blocks * kQueryBlock, rows = std::min(kQueryBlock, T - t0);
      const int64_t n = s.position + t0 + rows;  // keys the block's last query sees
      const float* kb = k_cache + (b * s.heads + h) * s.capacity * hd;
      const float* vb = v_cache + (b * s.heads + h) * s.capacity * hd;
      const View qv{const_cast<float*>(q + (b * T + t0) * q_row_stride + h * hd),
                    DType::f32,
                    {},
                    {rows, hd},
                    {q_row_stride, 1}};
      const View kt{const_cast<float*>(kb), DType::f32, {}, {hd, n}, {1, hd}};
      const View sv{sc, DType::f32, {}, {rows, n}, {n, 1}};
      cpu::matmul(qv, kt, sv);
      for (int64_t r = 0; r < rows; ++r) {
        float* p = sc + r * n;
        const int64_t visible = s.position + t0 + r + 1;
        const float inv = exp_scores(p, visible, scale);
#pragma omp simd
        for (int64_t j = 0; j < visible; ++j) p[j] *= inv;
        for (int64_t j = visible; j < n; ++j) p[j] = 0.0f;
      }
      const View vv{const_cast<float*>(vb), DType::f32, {}, {n, hd}, {hd, 1}};
      const View ov{out + (b * T + t0) * D + h * hd, DType::f32, {}, {rows, hd}, {D, 1}};
      cpu::matmul(sv, vv, ov);
    }
  }
}

}  // namespace

void cached_attention(const float* q, int64_t q_row_stride, const float* k_cache,
                      const float* v_cache, const AttentionShape& s, float* out) {
  OCTET_CHECK(s.position >= 0 && s.position + s.tokens <= s.capacity, "attention", "positions [",
              s.position, ", ", s.position + s.tokens, ") exceed the KV cache of ", s.capacity);
  // Enough new tokens for GEMMs to beat one dot product at a time.
  if (s.tokens >= 16) return attention_by_gemms(q, q_row_stride, k_cache, v_cache, s, out);
  const int64_t hd = s.head_dim, D = s.heads * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
#pragma omp parallel
  {
    std::vector<float> p(s.capacity);
#pragma omp for collapse(3) schedule(static)
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t h = 0; h < s.heads; ++h)
        for (int64_t t = 0; t < s.tokens; ++t) {
          const float* qv = q + (b * s.tokens + t) * q_row_stride + h * hd;
          const float* kb = k_cache + (b * s.heads + h) * s.capacity * hd;
          const float* vb = v_cache + (b * s.heads + h) * s.capacity * hd;
          const int64_t n = s.position + t + 1;  // keys this query may see
          for (int64_t j = 0; j < n; ++j) {
            const float* kv = kb + j * hd;
            float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
            for (int64_t d = 0; d < hd; ++d) dot += qv[d] * kv[d];
            p[j] = dot;
          }
          const float inv = exp_scores(p.data(), n, scale);
          float* o = out + (b * s.tokens + t) * D + h * hd;
          for (int64_t d = 0; d < hd; ++d) o[d] = 0.0f;
          for (int64_t j = 0; j < n; ++j) {
            const float w = p[j] * inv;
            const float* vv = vb + j * hd;
#pragma omp simd
            for (int64_t d = 0; d < hd; ++d) o[d] += w * vv[d];
          }
        }
  }
}

}  // namespace octet::runtime
