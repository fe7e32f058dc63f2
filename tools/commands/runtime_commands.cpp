#include "tools/commands/runtime_commands.h"

#include <cstdio>
#include <iostream>

#include "framework/data/fashion_mnist.h"
#include "framework/data/text.h"
#include "framework/train/image_classifier.h"
#include "runtime/evaluate.h"
#include "runtime/generate.h"
#include "runtime/loaded_model.h"

namespace octet::tools {
namespace {

struct EvalSettings {
  std::string model;
  std::string data_dir = kFashionMnistDir;
  int64_t batch = 0;  // 0: 256 images or 16 windows
  int64_t limit = 0;  // 0: the whole test set / validation windows below
  int64_t windows = 256;
};

double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

void print_model(const runtime::LoadedModel& m) {
  const proto::Provenance& p = m.file().header().provenance();
  std::printf("model %s: %.2f MiB on disk, method %s, scheme %s\n", m.file().path().c_str(),
              mib(static_cast<double>(m.file().file_size())),
              p.method().empty() ? "?" : p.method().c_str(),
              p.scheme().empty() ? "?" : p.scheme().c_str());
  for (const std::string& line : m.describe()) std::printf("  %s\n", line.c_str());
}

int run_eval(const EvalSettings& s) {
  const auto m = runtime::LoadedModel::open(s.model);
  print_model(*m);
  if (const runtime::CnnRuntime* cnn = m->cnn()) {
    const ImageDataset test = load_fashion_mnist(s.data_dir, false);
    const int64_t n = s.limit > 0 ? std::min(s.limit, test.n) : test.n;
    OCTET_CHECK(test.rows == cnn->image_size() && test.cols == cnn->image_size(), "eval",
                s.data_dir, ": images are ", test.rows, "x", test.cols, ", the model expects ",
                cnn->image_size(), "x", cnn->image_size());
    const Tensor images = train::normalize_images(test.images.data(), n);
    const int64_t batch = s.batch > 0 ? s.batch : 256;
    const runtime::ClassifierResult r =
        runtime::evaluate_classifier(*cnn, images.data<float>(), test.labels.data(), n, batch);
    std::printf(
        "fashion-mnist test: accuracy %.2f%% (%lld of %lld)  %.0f images/s  %.2f ms per batch of "
        "%lld  resident %.1f MiB\n",
        100.0 * r.accuracy, static_cast<long long>(r.correct), static_cast<long long>(n),
        r.samples_per_second, 1e3 * r.seconds * static_cast<double>(batch) / static_cast<double>(n),
        static_cast<long long>(batch), mib(static_cast<double>(runtime::resident_memory_bytes())));
    return 0;
  }
  const runtime::TransformerRuntime& lm = *m->decoder();
  const TextDataset text(load_kjv_text());
  const int64_t block = lm.arch().block();
  const auto windows = text.eval_windows(Split::kValidation, block, s.windows);
  std::vector<int64_t> x, y;
  text.gather(windows, x, y);
  const int64_t count = static_cast<int64_t>(windows.size());
  const runtime::LanguageModelResult r = runtime::evaluate_language_model(
      lm, x.data(), y.data(), count, block, s.batch > 0 ? s.batch : 16);
  std::printf(
      "kjv validation (%lld windows of %lld bytes): loss %.4f nats/byte  perplexity %.3f  %.3f "
      "bits/byte  %.0f tokens/s  resident %.1f MiB\n",
      static_cast<long long>(count), static_cast<long long>(block), r.loss, r.perplexity,
      r.bits_per_byte, r.tokens_per_second,
      mib(static_cast<double>(runtime::resident_memory_bytes())));
  return 0;
}

struct GenerateSettings {
  std::string model;
  std::string prompt = "And God said";
  runtime::SamplingOptions sampling;
};

int run_generate(const GenerateSettings& s) {
  const auto m = runtime::LoadedModel::open(s.model);
  OCTET_CHECK(m->decoder(), "generate", s.model,
              ": not a language model (it is an image classifier)");
  std::vector<int64_t> prompt(s.prompt.begin(), s.prompt.end());
  for (int64_t& t : prompt) t = static_cast<unsigned char>(t);
  std::cout << s.prompt << std::flush;
  const runtime::GenerationResult r =
      runtime::generate(*m->decoder(), prompt, s.sampling, [](int64_t token) {
        std::cout.put(static_cast<char>(token));
        std::cout.flush();
      });
  std::cout << "\n";
  std::fprintf(stderr, "[%zu tokens: first after %.1f ms, then %.1f tokens/s]\n", r.tokens.size(),
               1e3 * r.prefill_seconds, r.decode_tokens_per_second);
  return 0;
}

}  // namespace

std::function<int()> add_eval_command(CLI::App& app) {
  auto s = std::make_shared<EvalSettings>();
  CLI::App* cmd =
      app.add_subcommand("eval",
                         "evaluate a .qmodel on octet's runtime: accuracy (Fashion-MNIST) or loss, "
                         "perplexity and bits per byte (KJV), with throughput and memory");
  cmd->add_option("--model", s->model, "the .qmodel file")->required();
  cmd->add_option("--data", s->data_dir, "Fashion-MNIST directory")->capture_default_str();
  cmd->add_option("--batch", s->batch, "images or windows per forward pass (0: 256 / 16)");
  cmd->add_option("--limit", s->limit, "evaluate only the first N test images (0: all)");
  cmd->add_option("--windows", s->windows, "validation windows for language models")
      ->capture_default_str();
  return [cmd, s]() { return *cmd ? run_eval(*s) : -1; };
}

std::function<int()> add_generate_command(CLI::App& app) {
  auto s = std::make_shared<GenerateSettings>();
  CLI::App* cmd =
      app.add_subcommand("generate", "stream text from a language-model .qmodel (KV cache)");
  cmd->add_option("--model", s->model, "the .qmodel file")->required();
  cmd->add_option("--prompt", s->prompt, "text to continue")->capture_default_str();
  cmd->add_option("--tokens", s->sampling.max_new_tokens, "bytes to generate")
      ->capture_default_str();
  cmd->add_option("--temperature", s->sampling.temperature, "0: greedy")->capture_default_str();
  cmd->add_option("--top-k", s->sampling.top_k, "sample from the k likeliest (0: all)")
      ->capture_default_str();
  cmd->add_option("--seed", s->sampling.seed, "sampling seed")->capture_default_str();
  return [cmd, s]() { return *cmd ? run_generate(*s) : -1; };
}

}  // namespace octet::tools
