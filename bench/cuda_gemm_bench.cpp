// cuBLASLt INT8 (IMMA, int32 accumulators) and FP8 (E4M3, bf16 output) GEMMs against the same
// device's cuBLASLt BF16 GEMM (bf16 output, f32 accumulation) at 8192^3 and at LLM layer shapes
// (4096 tokens through a 4096 -> 4096 and a 4096 -> 11008 projection). Every operand is [M, K]
// x [N, K]^T, the layout of a Linear layer. Timed with CUDA events on the octet stream after
// warm-up calls. Prints OCTET_BENCH lines (bench/README.md) in TFLOP/s (TOPS for INT8), 2*M*N*K
// operations per GEMM. Rows named *_vs_torch and cuda_bf16_gemm_* compare with PyTorch on the
// same device (bench/peers/torch_cuda_gemm.py, torch.matmul and torch._scaled_mm); --quick takes
// fewer repeats. Without a GPU it prints that it skipped and reports nothing.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/cuda_operands.h"
#include "framework/random.h"
#include "framework/tensor/tensor.h"
#include "ops/cuda/gemm.h"
#include "ops/cuda/qgemm.h"
#include "ops/cuda/runtime.h"

namespace {

using namespace octet;

void report(const std::string& bench, double value, double peer_value) {
  std::printf(
      "OCTET_BENCH {\"bench\": \"%s\", \"value\": %.4g, \"unit\": \"TFLOP/s\", \"better\": "
      "\"higher\", \"peer\": \"cuBLASLt BF16\", \"peer_value\": %.4g}\n",
      bench.c_str(), value, peer_value);
  std::fflush(stdout);
}

// A row against PyTorch on the same device, measured by bench/peers/torch_cuda_gemm.py.
void report_vs_torch(const std::string& bench, double value, const std::string& torch_key) {
  std::printf(
      "OCTET_BENCH {\"bench\": \"%s\", \"value\": %.4g, \"unit\": \"TFLOP/s\", \"better\": "
      "\"higher\", \"peer_key\": \"%s\"}\n",
      bench.c_str(), value, torch_key.c_str());
  std::fflush(stdout);
}

struct Shape3 {
  const char* name;
  int64_t m, n, k;
};

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) quick |= std::strcmp(argv[i], "--quick") == 0;
  if (!cuda::available()) {
    std::printf("cuda_gemm_bench: skipped (%s)\n", cuda::compiled()
                                                       ? "no CUDA device on this machine"
                                                       : "octet was built without CUDA");
    return 0;
  }
  const int warmup = quick ? 2 : 5, repeats = quick ? 5 : 20;
  const bool fp8 = cuda::has_fp8(0);
  const Shape3 shapes[] = {{"8192", 8192, 8192, 8192},
                           {"4096x4096x4096", 4096, 4096, 4096},
                           {"4096x11008x4096", 4096, 11008, 4096}};
  Generator gen(7);
  const Device gpu{DeviceType::cuda, 0};
  for (const Shape3& s : shapes) {
    const double ops = 2.0 * double(s.m) * double(s.n) * double(s.k);
    auto tflops = [&](double ms) { return ops / (ms * 1e-3) / 1e12; };

    Tensor a16 = bench::random_device_operand(s.m, s.k, DType::bf16, gen);
    Tensor w16 = bench::random_device_operand(s.n, s.k, DType::bf16, gen);
    Tensor y16 = Tensor::empty({s.m, s.n}, DType::bf16, gpu);
    View wt = w16.view();  // W^T as a transposed view: [K, N] with strides {1, K}
    wt.shape = {s.k, s.n};
    wt.strides = {1, s.k};
    const double bf16 = tflops(cuda::time_ms(
        0, [&] { cuda::matmul(a16.view(), wt, y16.view()); }, warmup, repeats));
    a16 = w16 = y16 = Tensor();
    report_vs_torch(std::string("cuda_bf16_gemm_") + s.name, bf16,
                    std::string("torch_cuda_bf16_gemm_") + s.name);

    Tensor a8 = bench::random_device_operand(s.m, s.k, DType::i8, gen);
    Tensor w8 = bench::random_device_operand(s.n, s.k, DType::i8, gen);
    Tensor acc = Tensor::empty({s.m, s.n}, DType::i32, gpu);
    const double int8 = tflops(cuda::time_ms(
        0, [&] { cuda::int8_matmul(a8.view(), w8.view(), acc.view()); }, warmup, repeats));
    report(std::string("cuda_int8_gemm_") + s.name, int8, bf16);
    a8 = w8 = acc = Tensor();

    if (!fp8) continue;
    Tensor af = bench::random_device_operand(s.m, s.k, DType::f8e4m3, gen);
    Tensor wf = bench::random_device_operand(s.n, s.k, DType::f8e4m3, gen);
    Tensor scale = Tensor::ones({1}, DType::f32, gpu);
    Tensor yf = Tensor::empty({s.m, s.n}, DType::bf16, gpu);
    const double f8 = tflops(cuda::time_ms(
        0,
        [&] {
          cuda::fp8_gemm(af.view(), scale.view(), wf.view(), scale.view(), nullptr, yf.view());
        },
        warmup, repeats));
    report(std::string("cuda_fp8_gemm_") + s.name, f8, bf16);
    report_vs_torch(std::string("cuda_fp8_gemm_") + s.name + "_vs_torch", f8,
                    std::string("torch_cuda_fp8_gemm_") + s.name);
  }
  if (!fp8) std::printf("cuda_gemm_bench: FP8 rows skipped (compute capability below 8.9)\n");
  return 0;
}
