// The runtime's cached attention: a prefill of many tokens (GEMMs per sequence, head and block of
// queries) gives what the one-query-at-a-time path gives for each query, for prefills that span
// several query blocks, end in a partial block, and start behind tokens already in the cache.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "framework/random.h"
#include "runtime/attention.h"

namespace octet {
namespace {

std::vector<float> normal(int64_t n, Generator& gen) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(gen.normal());
  return v;
}

struct Case {
  int64_t batch, heads, head_dim, tokens, position;
};

class RuntimeAttention : public ::testing::TestWithParam<Case> {};

TEST_P(RuntimeAttention, PrefillEqualsOneQueryAtATime) {
  const Case c = GetParam();
  const int64_t D = c.heads * c.head_dim, capacity = c.position + c.tokens + 5;
  const int64_t q_stride = 3 * D;  // queries live in the fused qkv rows
  Generator gen(11);
  const std::vector<float> q = normal(c.batch * c.tokens * q_stride, gen);
  const std::vector<float> keys = normal(c.batch * c.heads * capacity * c.head_dim, gen);
  const std::vector<float> values = normal(keys.size(), gen);

  runtime::AttentionShape prefill{c.batch, c.tokens, c.heads, c.head_dim, capacity, c.position};
  std::vector<float> out(c.batch * c.tokens * D, NAN);
  runtime::cached_attention(q.data(), q_stride, keys.data(), values.data(), prefill, out.data());

  std::vector<float> one(D);
  for (int64_t b = 0; b < c.batch; ++b) {
    // Sequence b alone (batch 1): its cache rows and queries start at these offsets.
    const float* kb = keys.data() + b * c.heads * capacity * c.head_dim;
    const float* vb = values.data() + b * c.heads * capacity * c.head_dim;
    for (int64_t t = 0; t < c.tokens; ++t) {
      runtime::AttentionShape single{1, 1, c.heads, c.head_dim, capacity, c.position + t};
      runtime::cached_attention(q.data() + (b * c.tokens + t) * q_stride, q_stride, kb, vb, single,
                                one.data());
      for (int64_t d = 0; d < D; ++d) {
        ASSERT_NEAR(out[(b * c.tokens + t) * D + d], one[d], 2e-5)
            << "sequence " << b << ", query " << t << ", feature " << d;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, RuntimeAttention,
                         ::testing::Values(Case{1, 2, 8, 16, 0},      // one block, from the start
                                           Case{2, 3, 8, 150, 0},     // 3 blocks, the last partial
                                           Case{2, 2, 16, 130, 21},   // behind cached tokens
                                           Case{1, 4, 32, 64, 64}));  // exactly one full block

}  // namespace
}  // namespace octet
