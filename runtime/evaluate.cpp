#include "runtime/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <string>

#include "ops/error.h"

namespace octet::runtime {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

ClassifierResult evaluate_classifier(const CnnRuntime& model, const float* images,
                                     const uint8_t* labels, int64_t n, int64_t batch) {
  OCTET_CHECK(n > 0 && batch > 0, "evaluate", "needs images and a positive batch, got ", n,
              " images, batch ", batch);
  const int64_t classes = model.classes(), pixels = model.image_size() * model.image_size();
  ClassifierResult r;
  r.samples = n;
  r.predictions.resize(n);
  std::vector<float> logits(batch * classes);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n; i += batch) {
    const int64_t m = std::min(batch, n - i);
    model.logits(images + i * pixels, m, logits.data(), batch);
    for (int64_t j = 0; j < m; ++j) {
      const float* row = logits.data() + j * classes;
      r.predictions[i + j] = std::max_element(row, row + classes) - row;
    }
  }
  r.seconds = seconds_since(t0);
  for (int64_t i = 0; i < n; ++i) r.correct += r.predictions[i] == labels[i];
  r.accuracy = static_cast<double>(r.correct) / static_cast<double>(n);
  r.samples_per_second = static_cast<double>(n) / r.seconds;
  return r;
}

double cross_entropy_sum(const float* logits, const int64_t* targets, int64_t rows, int64_t vocab) {
  double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = logits + r * vocab;
    const double m = *std::max_element(row, row + vocab);
    double sum = 0;
    for (int64_t v = 0; v < vocab; ++v) sum += std::exp(row[v] - m);
    total += m + std::log(sum) - row[targets[r]];
  }
  return total;
}

LanguageModelResult evaluate_language_model(const TransformerRuntime& model, const int64_t* inputs,
                                            const int64_t* targets, int64_t windows, int64_t block,
                                            int64_t batch) {
  const int64_t vocab = model.arch().vocab();
  OCTET_CHECK(windows > 0 && batch > 0 && block > 0 && block <= model.arch().block(), "evaluate",
              "needs windows > 0, batch > 0 and 0 < block <= the context of ", model.arch().block(),
              ", got ", windows, ", ", batch, ", ", block);
  for (int64_t i = 0; i < windows * block; ++i)
    OCTET_CHECK(targets[i] >= 0 && targets[i] < vocab, "evaluate", "target ", targets[i],
                " at index ", i, " is outside the vocabulary of ", vocab);
  LanguageModelResult r;
  std::vector<float> logits(batch * block * vocab);
  double total = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t w = 0; w < windows; w += batch) {
    const int64_t m = std::min(batch, windows - w);
    DecoderSession session = model.start(m, block);
    model.forward(session, inputs + w * block, block, logits.data());
    total += cross_entropy_sum(logits.data(), targets + w * block, m * block, vocab);
  }
  r.seconds = seconds_since(t0);
  r.windows = windows;
  r.tokens = windows * block;
  r.loss = total / static_cast<double>(r.tokens);
  r.perplexity = std::exp(r.loss);
  r.bits_per_byte = r.loss / std::log(2.0);
  r.tokens_per_second = static_cast<double>(r.tokens) / r.seconds;
  return r;
}

uint64_t resident_memory_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      uint64_t kib = 0;
      status >> kib;
      return kib * 1024;
    }
    status.ignore(1 << 20, '\n');
  }
  return 0;
}

}  // namespace octet::runtime
