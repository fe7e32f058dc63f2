#include "runtime/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "ops/error.h"

namespace octet::runtime {
namespace {

// splitmix64: a small, well-mixed generator; the runtime links no training code, so it does not
// share framework/random.h.
double uniform01(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

}  // namespace

int64_t pick_token(const float* logits, int64_t vocab, const SamplingOptions& options,
                   uint64_t& rng_state) {
  if (options.temperature <= 0.0) return std::max_element(logits, logits + vocab) - logits;
  std::vector<int64_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  const int64_t k = options.top_k > 0 ? std::min(options.top_k, vocab) : vocab;
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
  const double top = logits[order[0]];
  std::vector<double> weights(k);
  double sum = 0;
  for (int64_t i = 0; i < k; ++i)
    sum += weights[i] = std::exp((logits[order[i]] - top) / options.temperature);
  double u = uniform01(rng_state) * sum;
  for (int64_t i = 0; i < k; ++i) {
    u -= weights[i];
    if (u <= 0) return order[i];
  }
  return order[k - 1];
}

GenerationResult generate(const TransformerRuntime& model, const std::vector<int64_t>& prompt,
                          const SamplingOptions& options,
                          const std::function<void(int64_t)>& on_token) {
  OCTET_CHECK(!prompt.empty(), "generate", "needs a prompt of at least one token");
  OCTET_CHECK(options.max_new_tokens >= 0 && options.top_k >= 0 && options.temperature >= 0,
              "generate", "max_new_tokens, top_k and temperature must be >= 0");
  const int64_t context = model.arch().block(), vocab = model.arch().vocab();
  std::vector<int64_t> history = prompt;
  std::vector<float> logits(vocab);
  uint64_t rng = options.seed;
  GenerationResult r;
  DecoderSession session = model.start(1);
  auto prefill = [&](int64_t keep) {
    session = model.start(1);
    const std::vector<int64_t> tail(history.end() - keep, history.end());
    model.forward(session, tail.data(), keep, logits.data(), true);
  };
  auto t0 = std::chrono::steady_clock::now();
  prefill(std::min<int64_t>(static_cast<int64_t>(history.size()), context));
  for (int64_t i = 0; i < options.max_new_tokens; ++i) {
    const int64_t token = pick_token(logits.data(), vocab, options, rng);
    if (i == 0) {
      r.prefill_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      t0 = std::chrono::steady_clock::now();
    }
    r.tokens.push_back(token);
    history.push_back(token);
    if (on_token) on_token(token);
    if (i + 1 == options.max_new_tokens) break;
    if (session.position == session.capacity)
      prefill(std::max<int64_t>(1, context / 2));  // slide: recompute the last half context
    else
      model.forward(session, &token, 1, logits.data(), true);
  }
  if (r.tokens.size() > 1) {
    r.decode_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.decode_tokens_per_second = static_cast<double>(r.tokens.size() - 1) / r.decode_seconds;
  }
  return r;
}

}  // namespace octet::runtime
