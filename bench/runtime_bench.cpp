// The deployable runtime's speed: prefill and decoding of a GPT exported as .qmodel files in
// each quantization scheme, against the FP32 export of the same weights run by the same runtime
// (both sides in this binary, alternating, medians), and against PyTorch's quantize_dynamic
// (bench/peers/torch_quantize_dynamic.py, same architecture and input). The GPT is big enough
// for the GEMMs to dominate: vocab 256, d 512, 4 layers, 8 heads, context 256, MLP 2048, seeded
// random init, static scales calibrated on 2 batches of random tokens. 2 threads. Prints
// OCTET_BENCH lines (bench/README.md); --quick takes fewer repeats.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/models/gpt.h"
#include "framework/random.h"
#include "ops/cpu/gemm.h"
#include "ops/error.h"
#include "qat/export.h"
#include "qat/llm_int8.h"
#include "qat/outlier_injection.h"
#include "qat/prepare.h"
#include "qat/schemes.h"
#include "runtime/generate.h"
#include "runtime/loaded_model.h"

namespace {

using namespace octet;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kInitSeed = 2024;
constexpr int64_t kPrefillBatch = 4;
constexpr int64_t kCalibrationBatches = 2;
constexpr int64_t kPromptTokens = 32;
constexpr int64_t kNewTokens = 128;
// LLM.int8's outliers, injected so that calibration finds some: LayerNorm outputs of a random
// model are ~N(0, 1), far below the 6.0 threshold, so without them every column is regular.
const std::vector<int64_t> kOutlierDims = {13, 101, 257, 400};
constexpr double kOutlierFactor = 20.0;

models::GptConfig bench_config() {
  models::GptConfig c;
  c.vocab = 256;
  c.dim = 512;
  c.layers = 4;
  c.heads = 8;
  c.block = 256;
  c.mlp_hidden = 2048;
  return c;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median values of a() and b(), called alternately after one warm-up call each, so that drift
// in the machine's speed hits both sides alike.
std::pair<double, double> alternating(const std::function<double()>& a,
                                      const std::function<double()>& b, int repeats) {
  a(), b();
  std::vector<double> va, vb;
  for (int i = 0; i < repeats; ++i) {
    va.push_back(a());
    vb.push_back(b());
  }
  return {median(va), median(vb)};
}

void report(const std::string& bench, double value, const char* unit, const char* better,
            const std::string& peer, double peer_value) {
  std::printf(
      "OCTET_BENCH {\"bench\": \"%s\", \"value\": %.6g, \"unit\": \"%s\", \"better\": \"%s\", "
      "\"peer\": \"%s\", \"peer_value\": %.6g}\n",
      bench.c_str(), value, unit, better, peer.c_str(), peer_value);
  std::fflush(stdout);
}

void report_against_key(const std::string& bench, double value, const std::string& peer,
                        const std::string& key) {
  std::printf(
      "OCTET_BENCH {\"bench\": \"%s\", \"value\": %.6g, \"unit\": \"tokens/s\", \"better\": "
      "\"higher\", \"peer\": \"%s\", \"peer_key\": \"%s\"}\n",
      bench.c_str(), value, peer.c_str(), key.c_str());
  std::fflush(stdout);
}

std::vector<int64_t> random_tokens(int64_t n, int64_t vocab, Generator& gen) {
  std::vector<int64_t> tokens(static_cast<size_t>(n));
  for (int64_t& t : tokens) t = static_cast<int64_t>(gen.below(static_cast<uint64_t>(vocab)));
  return tokens;
}

// A .qmodel in the temporary directory, removed when the benchmark is done with it.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& name)
      : path((std::filesystem::temp_directory_path() /
              ("octet_runtime_bench_" + std::to_string(::getpid()) + "_" + name + ".qmodel"))
                 .string()) {}
  ~TempFile() { std::filesystem::remove(path); }
};

struct Deployed {
  std::unique_ptr<TempFile> file;
  uint64_t bytes = 0;
  std::unique_ptr<runtime::LoadedModel> model;
  const runtime::TransformerRuntime& decoder() const { return *model->decoder(); }
};

// The bench GPT (the same weights every time: the init is seeded) prepared for `scheme` ("fp32",
// "llm_int8" or a qat::scheme_config name), calibrated, exported and loaded by the runtime. With
// `compact`, embedding tables and lm_head are stored in int8 too (with_int8_embeddings_and_head).
Deployed deploy(const std::string& scheme, const std::vector<std::vector<int64_t>>& calibration,
                bool compact = false) {
  const models::GptConfig config = bench_config();
  Generator init(kInitSeed);
  models::Gpt model(config, init);
  if (scheme == "llm_int8") {
    qat::inject_outlier_features(model, kOutlierDims, kOutlierFactor);
    qat::prepare_llm_int8(model);
  } else if (scheme != "fp32") {
    qat::QatConfig qat_config;
    qat_config.layers = qat::scheme_config(scheme);
    qat::prepare(model, compact ? qat::with_int8_embeddings_and_head(qat_config) : qat_config);
  }
  if (scheme != "fp32") {
    Generator unused(0);
    qat::calibrate(model, kCalibrationBatches, [&](int64_t i) {
      const auto& tokens = calibration[static_cast<size_t>(i)];
      const int64_t rows = static_cast<int64_t>(tokens.size()) / config.block;
      model.forward(Tensor::from_vector(tokens, {rows, config.block}), unused);
    });
  }
  proto::QModel description = qat::describe_model(model);
  description.mutable_provenance()->set_method(scheme == "fp32" ? "fp32" : "ptq");
  description.mutable_provenance()->set_scheme(scheme);
  const std::string label = scheme + (compact ? "_compact" : "");
  Deployed d;
  d.file = std::make_unique<TempFile>(label);
  d.bytes = qat::export_qmodel(model, description, d.file->path);
  d.model = runtime::LoadedModel::open(d.file->path);
  for (const std::string& line : d.model->decoder()->describe())
    if (line.rfind("blocks.0.fc:", 0) == 0 || line.rfind("lm_head:", 0) == 0)
      std::fprintf(stderr, "%s %s\n", label.c_str(), line.c_str());
  std::fprintf(stderr, "%s: %.2f MB\n", label.c_str(), static_cast<double>(d.bytes) / 1e6);
  return d;
}

int64_t outlier_columns(const runtime::ModelFile& file) {
  int64_t n = 0;
  for (const proto::Layer& layer : file.header().layers()) n += file.outlier_count(layer);
  return n;
}

// Logits [batch * block, vocab] of one prefill from a fresh cache.
std::vector<float> prefill_logits(const runtime::TransformerRuntime& decoder,
                                  const std::vector<int64_t>& tokens, int64_t batch) {
  const int64_t block = decoder.arch().block();
  std::vector<float> logits(static_cast<size_t>(batch * block * decoder.arch().vocab()));
  runtime::DecoderSession session = decoder.start(batch);
  decoder.forward(session, tokens.data(), block, logits.data());
  return logits;
}

// Tokens/s of one prefill (fresh DecoderSession, logits of every position) of `tokens`.
double prefill_rate(const runtime::TransformerRuntime& decoder, const std::vector<int64_t>& tokens,
                    int64_t batch) {
  const auto t0 = Clock::now();
  const std::vector<float> logits = prefill_logits(decoder, tokens, batch);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return static_cast<double>(tokens.size()) / seconds;
}

// ||a - b|| / ||b||: a benchmark whose quantized model stopped computing the FP32 model's
// function would time a broken path, so every scheme is checked before it is timed.
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    norm += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(diff / norm);
}

void require_close_to_fp32(const std::string& scheme, const Deployed& quantized,
                           const Deployed& fp32, const std::vector<int64_t>& tokens) {
  const double error = relative_error(prefill_logits(quantized.decoder(), tokens, kPrefillBatch),
                                      prefill_logits(fp32.decoder(), tokens, kPrefillBatch));
  std::fprintf(stderr, "%s: logits relative error vs fp32 %.4f\n", scheme.c_str(), error);
  OCTET_CHECK(error < 0.1, "runtime_bench", scheme, " logits are ", error,
              " (relative) away from the fp32 export's: not timing a broken model");
}

double decode_rate(const runtime::TransformerRuntime& decoder, const std::vector<int64_t>& prompt) {
  runtime::SamplingOptions options;
  options.max_new_tokens = kNewTokens;
  return runtime::generate(decoder, prompt, options).decode_tokens_per_second;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) quick = quick || std::strcmp(argv[i], "--quick") == 0;
  const int prefill_repeats = quick ? 3 : 15, decode_repeats = quick ? 1 : 7;
  cpu::set_num_threads(2);

  const models::GptConfig config = bench_config();
  Generator data(1);
  std::vector<std::vector<int64_t>> calibration;
  for (int64_t i = 0; i < kCalibrationBatches; ++i)
    calibration.push_back(random_tokens(kPrefillBatch * config.block, config.vocab, data));
  const std::vector<int64_t> prefill_input =
      random_tokens(kPrefillBatch * config.block, config.vocab, data);
  const std::vector<int64_t> prompt = random_tokens(kPromptTokens, config.vocab, data);

  const Deployed fp32 = deploy("fp32", calibration);
  const std::string fp32_peer = "octet runtime fp32";
  auto fp32_prefill = [&] { return prefill_rate(fp32.decoder(), prefill_input, kPrefillBatch); };
  auto fp32_decode = [&] { return decode_rate(fp32.decoder(), prompt); };

  struct PrefillRow {
    std::string scheme, bench, torch_bench;
  };
  const std::vector<PrefillRow> rows = {
      {"w8a8", "w8a8_prefill", "w8a8_prefill_vs_torch"},
      {"w8a8_dyn", "w8a8_dyn_prefill", "w8a8_dyn_prefill_vs_torch"},
      {"fp8_e4m3", "fp8_prefill", ""},
      {"llm_int8", "llm_int8_prefill", ""},
  };
  std::vector<double> fp32_rates;
  for (const PrefillRow& row : rows) {
    const Deployed q = deploy(row.scheme, calibration);
    require_close_to_fp32(row.scheme, q, fp32, prefill_input);
    if (row.scheme == "llm_int8")
      std::fprintf(stderr, "llm_int8: %lld outlier columns over all layers\n",
                   static_cast<long long>(outlier_columns(q.model->file())));
    const auto [rate, fp32_rate] =
        alternating([&] { return prefill_rate(q.decoder(), prefill_input, kPrefillBatch); },
                    fp32_prefill, prefill_repeats);
    fp32_rates.push_back(fp32_rate);
    report(row.bench, rate, "tokens/s", "higher", fp32_peer, fp32_rate);
    if (!row.torch_bench.empty())
      report_against_key(row.torch_bench, rate, "torch quantize_dynamic int8",
                         "torch_prefill_int8_dynamic_2t");
    if (row.scheme == "w8a8") {
      report("model_size_int8", static_cast<double>(q.bytes), "bytes", "lower", "fp32 .qmodel",
             static_cast<double>(fp32.bytes));
      const Deployed compact = deploy(row.scheme, calibration, true);
      report("model_size_int8_compact", static_cast<double>(compact.bytes), "bytes", "lower",
             "fp32 .qmodel", static_cast<double>(fp32.bytes));
      const auto [int8_decode, fp32_decode_rate] = alternating(
          [&] { return decode_rate(q.decoder(), prompt); }, fp32_decode, decode_repeats);
      report("generate_int8", int8_decode, "tokens/s", "higher", fp32_peer, fp32_decode_rate);
    }
    if (row.scheme == "fp8_e4m3") {
      const auto [fp8_decode, fp32_decode_rate] = alternating(
          [&] { return decode_rate(q.decoder(), prompt); }, fp32_decode, decode_repeats);
      report("generate_fp8", fp8_decode, "tokens/s", "higher", fp32_peer, fp32_decode_rate);
    }
  }
  // The FP32 runtime's prefill against torch's fp32 eager: the median of every FP32 measurement
  // above, each itself a median taken next to a quantized model.
  report_against_key("fp32_prefill_vs_torch", median(fp32_rates), "torch fp32 eager",
                     "torch_prefill_fp32_2t");
  return 0;
}
