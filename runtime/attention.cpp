#include "runtime/attention.h"

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

// Many new tokens (a prefill): per sequence and head, scores = q k^T and out = p v as two GEMMs
// on oneDNN, with the causal softmax in between, instead of one dot product at a time.
void attention_by_gemms(const float* q, int64_t q_row_stride, const float* k_cache,
                        const float* v_cache, const AttentionShape& s, float* out) {
  const int64_t hd = s.head_dim, D = s.heads * hd, T = s.tokens;
  const int64_t n = s.position + T;  // keys the last query sees
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  std::vector<float> scores(T * n);
  float* sc = scores.data();
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.heads; ++h) {
      const float* kb = k_cache + (b * s.heads + h) * s.capacity * hd;
      const float* vb = v_cache + (b * s.heads + h) * s.capacity * hd;
      const View qv{const_cast<float*>(q + b * T * q_row_stride + h * hd),
                    DType::f32,
                    {},
                    {T, hd},
                    {q_row_stride, 1}};
      const View kt{const_cast<float*>(kb), DType::f32, {}, {hd, n}, {1, hd}};
      const View sv{sc, DType::f32, {}, {T, n}, {n, 1}};
      cpu::matmul(qv, kt, sv);
#pragma omp parallel for schedule(static) if (T * n > (1 << 15))
      for (int64_t t = 0; t < T; ++t) {
        float* p = sc + t * n;
        const int64_t visible = s.position + t + 1;
        const float inv = exp_scores(p, visible, scale);
#pragma omp simd
        for (int64_t j = 0; j < visible; ++j) p[j] *= inv;
        for (int64_t j = visible; j < n; ++j) p[j] = 0.0f;
      }
      const View vv{const_cast<float*>(vb), DType::f32, {}, {n, hd}, {hd, 1}};
      const View ov{out + b * T * D + h * hd, DType::f32, {}, {T, hd}, {D, 1}};
      cpu::matmul(sv, vv, ov);
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
