// The deployed decoders' own contract: decoding token by token through the KV cache gives the
// logits of running the whole sequence at once (GPT's learned positions and LLaMA's rotary
// offsets included), generation is deterministic, and bad input fails with a clear error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "framework/models/gpt.h"
#include "qat/export.h"
#include "qat/prepare.h"
#include "qat/schemes.h"
#include "runtime/generate.h"
#include "runtime/loaded_model.h"
#include "tests/support/error_matchers.h"

namespace octet {
namespace {

class DeployedDecoder : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    models::GptConfig c;
    c.dim = 32;
    c.layers = 2;
    c.heads = 4;
    c.block = 16;
    Generator gen(3);
    std::unique_ptr<models::LanguageModel> model;
    if (GetParam() == "llama")
      model = std::make_unique<models::Llama>(c, gen);
    else
      model = std::make_unique<models::Gpt>(c, gen);
    qat::QatConfig config;
    config.layers = qat::scheme_config("w8a8_dyn");  // needs no calibration
    qat::prepare(*model, config);
    path_ = (std::filesystem::temp_directory_path() /
             ("runtime_decoder_" + std::to_string(::getpid()) + "_" + GetParam() + ".qmodel"))
                .string();
    qat::export_qmodel(*model, qat::describe_model(*model), path_);
    deployed_ = runtime::LoadedModel::open(path_);
  }
  void TearDown() override { std::filesystem::remove(path_); }

  const runtime::TransformerRuntime& decoder() const { return *deployed_->decoder(); }

  std::string path_;
  std::unique_ptr<runtime::LoadedModel> deployed_;
};

std::vector<int64_t> some_tokens(int64_t n) {
  std::vector<int64_t> t(n);
  for (int64_t i = 0; i < n; ++i) t[i] = (i * 37 + 11) % 256;
  return t;
}

TEST_P(DeployedDecoder, CachedDecodingEqualsTheWholeSequence) {
  const int64_t T = 16, V = 256;
  const std::vector<int64_t> tokens = some_tokens(T);
  std::vector<float> whole(T * V), step(V);
  runtime::DecoderSession all = decoder().start(1);
  decoder().forward(all, tokens.data(), T, whole.data());
  EXPECT_EQ(all.position, T);
  runtime::DecoderSession one = decoder().start(1);
  for (int64_t t = 0; t < T; ++t) {
    decoder().forward(one, &tokens[t], 1, step.data(), true);
    double diff = 0, norm = 0;
    for (int64_t v = 0; v < V; ++v) {
      diff = std::max(diff, std::abs(static_cast<double>(step[v]) - whole[t * V + v]));
      norm = std::max(norm, std::abs(static_cast<double>(whole[t * V + v])));
    }
    EXPECT_LE(diff, 1e-4 * norm) << "position " << t;
  }
}

TEST_P(DeployedDecoder, BatchedSequencesAreIndependent) {
  const int64_t T = 8, V = 256;
  std::vector<int64_t> two = some_tokens(2 * T);
  std::vector<float> batched(2 * T * V), single(T * V);
  runtime::DecoderSession s2 = decoder().start(2);
  decoder().forward(s2, two.data(), T, batched.data());
  runtime::DecoderSession s1 = decoder().start(1);
  decoder().forward(s1, two.data() + T, T, single.data());
  for (int64_t i = 0; i < T * V; ++i) EXPECT_NEAR(batched[T * V + i], single[i], 1e-4);
}

TEST_P(DeployedDecoder, GreedyGenerationIsTheArgmaxRolloutAndSlidesPastTheContext) {
  runtime::SamplingOptions greedy;
  greedy.max_new_tokens = 40;  // beyond the 16-token context: the cache restarts
  const std::vector<int64_t> prompt = some_tokens(5);
  std::vector<int64_t> streamed;
  const runtime::GenerationResult a =
      runtime::generate(decoder(), prompt, greedy, [&](int64_t t) { streamed.push_back(t); });
  const runtime::GenerationResult b = runtime::generate(decoder(), prompt, greedy);
  EXPECT_EQ(a.tokens.size(), 40u);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(streamed, a.tokens);
  // The first tokens (inside the context) are the arg-max of a full recompute.
  std::vector<int64_t> seq = prompt;
  std::vector<float> logits(256);
  for (int i = 0; i < 8; ++i) {
    runtime::DecoderSession s = decoder().start(1);
    decoder().forward(s, seq.data(), static_cast<int64_t>(seq.size()), logits.data(), true);
    const int64_t next = std::max_element(logits.begin(), logits.end()) - logits.begin();
    EXPECT_EQ(a.tokens[i], next) << "token " << i;
    seq.push_back(next);
  }
  runtime::SamplingOptions sampled;
  sampled.max_new_tokens = 20;
  sampled.temperature = 0.8;
  sampled.top_k = 20;
  sampled.seed = 9;
  EXPECT_EQ(runtime::generate(decoder(), prompt, sampled).tokens,
            runtime::generate(decoder(), prompt, sampled).tokens);
}

TEST_P(DeployedDecoder, BadInputIsAClearError) {
  std::vector<float> logits(256 * 17);
  runtime::DecoderSession s = decoder().start(1);
  const std::vector<int64_t> bad = {1, 300};
  EXPECT_TRUE(testing::throws_naming([&] { decoder().forward(s, bad.data(), 2, logits.data()); },
                                     "token 300"));
  const std::vector<int64_t> long_input = some_tokens(17);
  EXPECT_TRUE(testing::throws_naming(
      [&] { decoder().forward(s, long_input.data(), 17, logits.data()); }, "overflow"));
  EXPECT_TRUE(testing::throws_naming([&] { decoder().start(1, 17); }, "capacity"));
}

INSTANTIATE_TEST_SUITE_P(Families, DeployedDecoder, ::testing::Values("gpt", "llama"));

}  // namespace
}  // namespace octet
