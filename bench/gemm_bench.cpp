// Throughput of octet::cpu::matmul (oneDNN underneath) at the shapes training uses, and the
// per-call overhead of a small cached GEMM (plan lookup + memory wrapping + execute).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "ops/cpu/gemm.h"
#include "ops/dtype.h"

namespace {

using octet::DType;
using octet::View;

template <typename T>
View matrix(std::vector<T>& storage, DType dtype, int64_t rows, int64_t cols) {
  storage.resize(static_cast<size_t>(rows * cols));
  return View{storage.data(), dtype, {}, {rows, cols}, {cols, 1}};
}

// Deterministic values in [-1, 1) so no denormals or infinities skew the timing.
float value(size_t i) { return static_cast<float>((i * 2654435761u) % 2048) / 1024.f - 1.f; }

void set_gflops(benchmark::State& state, int64_t M, int64_t N, int64_t K) {
  const double flops =
      2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  state.counters["GFLOP/s"] = benchmark::Counter(
      flops * 1e-9 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// Args: M, N, K, threads.
void BM_sgemm(benchmark::State& state) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  octet::cpu::set_num_threads(static_cast<int>(state.range(3)));
  std::vector<float> a, b, c;
  const View va = matrix(a, DType::f32, M, K), vb = matrix(b, DType::f32, K, N);
  const View vc = matrix(c, DType::f32, M, N);
  for (size_t i = 0; i < a.size(); ++i) a[i] = value(i);
  for (size_t i = 0; i < b.size(); ++i) b[i] = value(i + 7);
  octet::cpu::matmul(va, vb, vc);  // builds the plan outside the timed loop
  for (auto _ : state) {
    octet::cpu::matmul(va, vb, vc);
    benchmark::ClobberMemory();
  }
  set_gflops(state, M, N, K);
}

// bf16 inputs, f32 output. On CPUs without bf16 GEMMs (AVX2) this includes widening to f32.
void BM_bf16_gemm(benchmark::State& state) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  octet::cpu::set_num_threads(static_cast<int>(state.range(3)));
  std::vector<uint16_t> a, b;
  std::vector<float> c;
  const View va = matrix(a, DType::bf16, M, K), vb = matrix(b, DType::bf16, K, N);
  const View vc = matrix(c, DType::f32, M, N);
  for (size_t i = 0; i < a.size(); ++i) a[i] = octet::f32_to_bf16(value(i));
  for (size_t i = 0; i < b.size(); ++i) b[i] = octet::f32_to_bf16(value(i + 7));
  octet::cpu::matmul(va, vb, vc);
  for (auto _ : state) {
    octet::cpu::matmul(va, vb, vc);
    benchmark::ClobberMemory();
  }
  set_gflops(state, M, N, K);
}

// The cost of one call once its plan is cached: time per iteration is the time per call.
// Args: threads.
void BM_cached_small_matmul(benchmark::State& state) {
  octet::cpu::set_num_threads(static_cast<int>(state.range(0)));
  std::vector<float> a, b, c, bias(64, 0.5f);
  const View va = matrix(a, DType::f32, 64, 64), vb = matrix(b, DType::f32, 64, 64);
  const View vc = matrix(c, DType::f32, 64, 64);
  const View vbias{bias.data(), DType::f32, {}, {64}, {1}};
  for (size_t i = 0; i < a.size(); ++i) a[i] = value(i), b[i] = value(i + 3);
  octet::cpu::matmul(va, vb, vc, &vbias);
  const size_t plans = octet::cpu::matmul_cache_size();
  for (auto _ : state) {
    octet::cpu::matmul(va, vb, vc, &vbias);
    benchmark::ClobberMemory();
  }
  if (octet::cpu::matmul_cache_size() != plans) state.SkipWithError("plan cache missed");
  // Inverted rate of iterations * 1e-6 is seconds * 1e6 per iteration: microseconds per call.
  state.counters["us/call"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * 1e-6,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  set_gflops(state, 64, 64, 64);
}

BENCHMARK(BM_sgemm)
    ->ArgNames({"M", "N", "K", "threads"})
    ->ArgsProduct({{512}, {512}, {512}, {1, 2}})
    ->ArgsProduct({{1024}, {1024}, {1024}, {1, 2}})
    ->ArgsProduct({{128}, {768}, {3072}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_bf16_gemm)
    ->ArgNames({"M", "N", "K", "threads"})
    ->ArgsProduct({{512}, {512}, {512}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cached_small_matmul)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
