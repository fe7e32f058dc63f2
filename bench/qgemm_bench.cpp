// The runtime's quantized GEMMs (ops/quant/qgemm.h) against oneDNN's f32 GEMM on the same shapes
// (octet::cpu::matmul, what an unquantized Linear runs), and LLM.int8() against the plain W8A8
// dynamic layer. Each row times its two sides alternately in this binary at 2 threads and
// reports medians, so drift in the machine's speed hits both alike. Prints OCTET_BENCH lines
// (bench/README.md); --quick takes fewer repeats.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "framework/random.h"
#include "ops/cpu/gemm.h"
#include "ops/quant/qgemm.h"

namespace {

using namespace octet;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median seconds of a() and b(), called alternately after one warm-up call each.
std::pair<double, double> alternating(const std::function<void()>& a,
                                      const std::function<void()>& b, int repeats) {
  a(), b();
  std::vector<double> ta, tb;
  for (int i = 0; i < repeats; ++i) {
    for (auto [f, times] : {std::pair{&a, &ta}, std::pair{&b, &tb}}) {
      const auto t0 = Clock::now();
      (*f)();
      times->push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
  }
  return {median(ta), median(tb)};
}

void report(const std::string& bench, double value, const char* unit, const char* better,
            const char* peer, double peer_value) {
  std::printf(
      "OCTET_BENCH {\"bench\": \"%s\", \"value\": %.4g, \"unit\": \"%s\", \"better\": \"%s\", "
      "\"peer\": \"%s\", \"peer_value\": %.4g}\n",
      bench.c_str(), value, unit, better, peer, peer_value);
  std::fflush(stdout);
}

std::vector<float> normal(int64_t n, Generator& gen, double scale) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(gen.normal() * scale);
  return v;
}

// One linear layer's operands at [m, k] x [n, k]^T, in every form the rows need.
struct Layer {
  int64_t m, n, k;
  std::vector<float> x, w, bias, y;
  std::vector<int8_t> x_codes, w_codes;
  std::vector<float> x_scales;
  quant::Int8Weight int8;

  Layer(int64_t m_, int64_t n_, int64_t k_, Generator& gen) : m(m_), n(n_), k(k_) {
    x = normal(m * k, gen, 1.0);
    w = normal(n * k, gen, 0.02);
    bias = normal(n, gen, 0.1);
    y.resize(static_cast<size_t>(m * n));
    x_codes.resize(x.size());
    x_scales.resize(static_cast<size_t>(m));
    quant::quantize_rows_int8(x.data(), m, k, k, x_codes.data(), x_scales.data());
    // Per-channel weights: each output row quantized with its own scale, like a W8A8 export.
    w_codes.resize(w.size());
    std::vector<float> w_scales(static_cast<size_t>(n));
    quant::quantize_rows_int8(w.data(), n, k, k, w_codes.data(), w_scales.data());
    int8 = quant::Int8Weight(w_codes.data(), n, k, w_scales);
  }

  void f32_gemm() {
    const View a{x.data(), DType::f32, {}, {m, k}, {k, 1}};
    const View b{w.data(), DType::f32, {}, {k, n}, {1, k}};
    const View c{y.data(), DType::f32, {}, {m, n}, {n, 1}};
    const View bv{bias.data(), DType::f32, {}, {n}, {1}};
    cpu::matmul(a, b, c, &bv);
  }
  void int8_gemm() {
    quant::int8_gemm({x_codes.data(), false, m, k, k, x_scales.data(), m, 0}, int8, bias.data(),
                     y.data(), n);
  }
  // What a W8A8 dynamic layer runs: per-token quantization of f32 x, then the int8 GEMM.
  void int8_dynamic() {
    quant::quantize_rows_int8(x.data(), m, k, k, x_codes.data(), x_scales.data());
    int8_gemm();
  }
  double ops() const { return 2.0 * static_cast<double>(m) * static_cast<double>(n) * k; }
};

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) quick = quick || std::strcmp(argv[i], "--quick") == 0;
  cpu::set_num_threads(2);
  Generator gen(1);
  const char* fp32_peer = "oneDNN fp32 GEMM";

  for (int64_t m : {512, 16}) {
    Layer layer(m, 4096, 4096, gen);
    const int repeats = quick ? 3 : (m == 512 ? 15 : 61);
    const auto [t_int8, t_f32] =
        alternating([&] { layer.int8_gemm(); }, [&] { layer.f32_gemm(); }, repeats);
    report("int8_gemm_" + std::to_string(m) + "x4096x4096", layer.ops() / t_int8 * 1e-9, "GOP/s",
           "higher", fp32_peer, layer.ops() / t_f32 * 1e-9);
  }

  Layer layer(512, 4096, 4096, gen);
  const int repeats = quick ? 3 : 15;
  {
    const auto [t_dyn, t_f32] =
        alternating([&] { layer.int8_dynamic(); }, [&] { layer.f32_gemm(); }, repeats);
    report("int8_linear_dyn_512x4096x4096", layer.ops() / t_dyn * 1e-9, "GOP/s", "higher",
           fp32_peer, layer.ops() / t_f32 * 1e-9);
  }

  {
    // LLM.int8() with 8 outlier feature columns spread over the input, against W8A8 dynamic.
    const int64_t outliers = 8;
    std::vector<int64_t> columns;
    for (int64_t i = 0; i < outliers; ++i) columns.push_back(37 + i * 509);
    std::vector<int64_t> regular;
    for (int64_t c = 0, next = 0; c < layer.k; ++c) {
      if (next < outliers && columns[next] == c) {
        ++next;
      } else {
        regular.push_back(c);
      }
    }
    const int64_t kr = static_cast<int64_t>(regular.size());
    std::vector<float> w_outlier(static_cast<size_t>(layer.n * outliers)),
        w_regular(static_cast<size_t>(layer.n * kr));
    for (int64_t j = 0; j < layer.n; ++j) {
      for (int64_t i = 0; i < outliers; ++i)
        w_outlier[j * outliers + i] = layer.w[j * layer.k + columns[i]];
      for (int64_t i = 0; i < kr; ++i) w_regular[j * kr + i] = layer.w[j * layer.k + regular[i]];
    }
    std::vector<int8_t> codes(w_regular.size());
    std::vector<float> scales(static_cast<size_t>(layer.n));
    quant::quantize_rows_int8(w_regular.data(), layer.n, kr, kr, codes.data(), scales.data());
    const quant::LlmInt8Weight llm(columns, w_outlier.data(),
                                   quant::Int8Weight(codes.data(), layer.n, kr, scales));
    const auto [t_llm, t_w8a8] = alternating(
        [&] {
          quant::llm_int8_gemm(layer.x.data(), layer.m, layer.k, layer.k, llm, layer.bias.data(),
                               layer.y.data(), layer.n);
        },
        [&] { layer.int8_dynamic(); }, repeats);
    report("llm_int8_layer", t_llm * 1e3, "ms", "lower", "W8A8 dynamic layer", t_w8a8 * 1e3);
  }

  {
    // FP8 E4M3 weights and activations (per-tensor scales), for the record.
    std::vector<uint8_t> a_codes(layer.x.size()), w_codes(layer.w.size());
    const float a_scale = 448.0f / 5.0f, w_scale = 448.0f / 0.1f;
    quant::fp8_quantize(layer.x.data(), static_cast<int64_t>(a_codes.size()), a_scale,
                        quant::Fp8Format::kE4M3, true, a_codes.data());
    quant::fp8_quantize(layer.w.data(), static_cast<int64_t>(w_codes.size()), w_scale,
                        quant::Fp8Format::kE4M3, true, w_codes.data());
    const quant::Fp8Weight fp8(w_codes.data(), quant::Fp8Format::kE4M3, layer.n, layer.k,
                               {w_scale});
    const auto [t_fp8, t_f32] = alternating(
        [&] {
          quant::fp8_gemm(a_codes.data(), quant::Fp8Format::kE4M3, layer.m, layer.k, layer.k,
                          a_scale, fp8, layer.bias.data(), layer.y.data(), layer.n);
        },
        [&] { layer.f32_gemm(); }, repeats);
    report("fp8_gemm_512x4096x4096", layer.ops() / t_fp8 * 1e-9, "GFLOP/s", "higher", fp32_peer,
           layer.ops() / t_f32 * 1e-9);
  }
  return 0;
}
