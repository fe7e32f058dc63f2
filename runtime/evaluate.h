#pragma once
// Evaluation of deployed models: accuracy for the image classifier, loss / perplexity / bits per
// byte for the byte-level decoders, with the wall time it took. The caller provides the data
// (the runtime reads no datasets), so the same windows and images as training's evaluation can
// be used and the numbers compare one to one.
#include <cstdint>
#include <vector>

#include "runtime/cnn_runtime.h"
#include "runtime/transformer_runtime.h"

namespace octet::runtime {

struct ClassifierResult {
  int64_t samples = 0, correct = 0;
  double accuracy = 0;  // correct / samples
  double seconds = 0;   // forward passes only
  double samples_per_second = 0;
  std::vector<int64_t> predictions;  // arg-max class of each sample
};

// images [n, 1, S, S] f32 (normalised as in training), labels [n].
ClassifierResult evaluate_classifier(const CnnRuntime& model, const float* images,
                                     const uint8_t* labels, int64_t n, int64_t batch = 256);

struct LanguageModelResult {
  int64_t windows = 0, tokens = 0;
  double loss = 0;           // mean next-token cross-entropy, nats per token (byte)
  double perplexity = 0;     // e^loss
  double bits_per_byte = 0;  // loss / ln 2 (tokens are bytes)
  double seconds = 0;
  double tokens_per_second = 0;
};

// inputs and targets: [windows, block] token ids, targets[w][t] the token after inputs[w][t]; each
// group of `batch` windows is one prefill of a fresh KV cache.
LanguageModelResult evaluate_language_model(const TransformerRuntime& model, const int64_t* inputs,
                                            const int64_t* targets, int64_t windows, int64_t block,
                                            int64_t batch = 16);

// The next-token cross-entropy (nats) of each row of logits [rows, vocab] against targets [rows],
// in double precision; what evaluate_language_model averages.
double cross_entropy_sum(const float* logits, const int64_t* targets, int64_t rows, int64_t vocab);

// The process's resident set size (VmRSS), or 0 where /proc is unavailable.
uint64_t resident_memory_bytes();

}  // namespace octet::runtime
