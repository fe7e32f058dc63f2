#pragma once
// Autoregressive generation with the KV cache: one prefill of the prompt, then one token per
// step. Greedy at temperature 0, else sampling from the top-k tokens at that temperature.
#include <cstdint>
#include <functional>
#include <vector>

#include "runtime/transformer_runtime.h"

namespace octet::runtime {

struct SamplingOptions {
  int64_t max_new_tokens = 200;
  double temperature = 0.0;  // 0: greedy (arg-max)
  int64_t top_k = 0;         // 0: the whole vocabulary
  uint64_t seed = 1;
};

struct GenerationResult {
  std::vector<int64_t> tokens;  // the new tokens only
  double prefill_seconds = 0;   // the first token's latency
  double decode_seconds = 0;    // every later step
  double decode_tokens_per_second = 0;
};

// prompt: at least one token. When the context fills up, the cache restarts from the last half
// context of tokens (a sliding window), so any number of tokens can be generated. on_token (may
// be empty) sees each new token as soon as it exists, for streaming.
GenerationResult generate(const TransformerRuntime& model, const std::vector<int64_t>& prompt,
                          const SamplingOptions& options,
                          const std::function<void(int64_t)>& on_token = {});

// The next token from logits [vocab] under `options` (exposed for tests).
int64_t pick_token(const float* logits, int64_t vocab, const SamplingOptions& options,
                   uint64_t& rng_state);

}  // namespace octet::runtime
