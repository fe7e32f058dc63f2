// The deployable runtime's linear layers on a GPU (runtime::CudaLinear): prefill through the
// linear layers of a GPT-2-small-width decoder stack, 12 blocks of qkv 768 -> 2304, proj
// 768 -> 768, fc 768 -> 3072 and fc2 3072 -> 768 (all with bias), 16 x 512 = 8192 tokens, f32
// activations in and out of every layer. Three variants of the same random weights
// (N(0, 1/in)):
//   bf16  cuda::matmul with bf16 operands (x cast per call), f32 accumulation and output: the
//         baseline
//   w8a8  int8 weights per output channel, int8 inputs with a static per-tensor scale: each call
//         quantizes x on the device, runs IMMA into int32 and the dequantizing epilogue
//   fp8   E4M3 weights (per-tensor scale) and E4M3 inputs with a static per-tensor scale
// The stack chains fc2's output into the next block's input (the attention itself is not run:
// qkv and proj read the block input). Timed with cuda::time_ms (CUDA events around back-to-back
// stacks) in alternating rounds, medians. Rows (bench/README.md): cuda_w8a8_prefill and
// cuda_fp8_prefill in tokens/s against the BF16 stack of the same run. Also prints, for the
// record, the stack time of the GEMM calls alone (random operands, no input cast/quantization,
// no separate epilogue) and a check that each quantized variant computes what the BF16 one does
// (relative L2 of block 0's qkv output, must be under 0.15). --quick: fewer repeats. Without a
// GPU it prints that it skipped and reports nothing.
#include <algorithm>
#include <cmath>
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
#include "ops/error.h"
#include "ops/quant/fp8.h"
#include "runtime/cuda_linear.h"

namespace {

using namespace octet;
using runtime::CudaLinear;
using runtime::LinearKind;
using runtime::LinearOp;

struct LayerShape {
  const char* name;
  int64_t in, out;
};
constexpr LayerShape kBlock[] = {
    {"qkv", 768, 2304}, {"proj", 768, 768}, {"fc", 768, 3072}, {"fc2", 3072, 768}};
constexpr int kBlocks = 12;
constexpr int64_t kTokens = 16 * 512;
constexpr int64_t kDim = 768, kHidden = 3072;
// The inputs are ~N(0, 1) at every layer: static scales for |x| <= 6.
constexpr float kInputRange = 6.0f;

enum Variant { kBf16, kW8a8, kFp8, kVariants };
const char* const kVariantName[] = {"bf16", "w8a8", "fp8"};

// One layer's weights in all three forms, uploaded.
void add_layer(const LayerShape& s, int block, Generator& gen, std::vector<CudaLinear>* stacks,
               bool fp8) {
  const int64_t n = s.in * s.out;
  std::vector<float> w(static_cast<size_t>(n)), bias(static_cast<size_t>(s.out));
  const double sd = 1.0 / std::sqrt(static_cast<double>(s.in));
  for (float& v : w) v = static_cast<float>(gen.normal() * sd);
  for (float& v : bias) v = static_cast<float>(gen.normal() * 0.02);
  LinearOp::Parts p;
  p.name = "blocks." + std::to_string(block) + "." + s.name;
  p.in = s.in;
  p.out = s.out;
  p.bias = bias.data();

  p.kind = LinearKind::kF32;
  p.weight = w.data();
  stacks[kBf16].emplace_back(p, runtime::CudaLinearOptions{0, true});
  p.weight = nullptr;

  // int8 symmetric per output channel, as the w8a8 scheme exports them.
  std::vector<int8_t> codes(static_cast<size_t>(n));
  std::vector<float> scales(static_cast<size_t>(s.out));
  for (int64_t j = 0; j < s.out; ++j) {
    float amax = 0;
    for (int64_t k = 0; k < s.in; ++k) amax = std::max(amax, std::abs(w[j * s.in + k]));
    scales[j] = amax / 127.0f;
    const float inv = 1.0f / scales[j];
    for (int64_t k = 0; k < s.in; ++k)
      codes[j * s.in + k] =
          static_cast<int8_t>(std::clamp(std::nearbyint(w[j * s.in + k] * inv), -127.0f, 127.0f));
  }
  p.kind = LinearKind::kInt8;
  p.weight_codes = codes.data();
  p.weight_spec = quant::QuantSpec::int8_symmetric().per_channel(0);
  p.weight_scales = scales;
  p.input_quantized = true;
  p.input_spec = quant::QuantSpec::int8_symmetric();
  p.input_scales = {kInputRange / 127.0f};
  stacks[kW8a8].emplace_back(p, runtime::CudaLinearOptions{0, false});
  if (!fp8) return;

  // E4M3 per tensor, as the fp8_e4m3 scheme exports them (q = encode(w * s), s = 448 / amax).
  float amax = 0;
  for (float v : w) amax = std::max(amax, std::abs(v));
  const float s_w = 448.0f / amax;
  std::vector<uint8_t> f8(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    f8[i] = quant::fp8_encode(w[i] * s_w, quant::Fp8Format::kE4M3, true);
  p.kind = LinearKind::kFp8;
  p.weight_codes = f8.data();
  p.weight_spec = quant::QuantSpec::fp8_e4m3();
  p.weight_scales = {s_w};
  p.input_spec = quant::QuantSpec::fp8_e4m3();
  p.input_scales = {448.0f / kInputRange};
  stacks[kFp8].emplace_back(p, runtime::CudaLinearOptions{0, false});
}

float* ptr(const Tensor& t) { return static_cast<float*>(t.view().data); }

// Device activations of the stack: the input, two alternating block outputs, and the side
// outputs (qkv, proj, fc).
struct Activations {
  Tensor x, y[2], qkv, attn, h;
  explicit Activations(Generator& gen) {
    const Device gpu{DeviceType::cuda, 0};
    x = Tensor::randn({kTokens, kDim}, gen).cuda();
    for (Tensor& t : y) t = Tensor::empty({kTokens, kDim}, DType::f32, gpu);
    qkv = Tensor::empty({kTokens, 3 * kDim}, DType::f32, gpu);
    attn = Tensor::empty({kTokens, kDim}, DType::f32, gpu);
    h = Tensor::empty({kTokens, kHidden}, DType::f32, gpu);
  }
};

// One prefill through the stack's 48 layers; returns the last block's output.
float* run_stack(const std::vector<CudaLinear>& layers, const Activations& a) {
  const float* in = ptr(a.x);
  float* out = nullptr;
  for (int b = 0; b < kBlocks; ++b) {
    const CudaLinear* l = &layers[4 * b];
    out = ptr(a.y[b % 2]);
    l[0].forward(in, kTokens, ptr(a.qkv));
    l[1].forward(in, kTokens, ptr(a.attn));
    l[2].forward(in, kTokens, ptr(a.h));
    l[3].forward(ptr(a.h), kTokens, out);
    in = out;
  }
  return out;
}

// ms of the stack's 48 GEMM calls alone, as CudaLinear makes them, on random operands.
double gemm_only_ms(Variant v, Generator& gen, int warmup, int repeats) {
  const Device gpu{DeviceType::cuda, 0};
  const DType in_type = v == kBf16 ? DType::bf16 : v == kW8a8 ? DType::i8 : DType::f8e4m3;
  Tensor a_dim = bench::random_device_operand(kTokens, kDim, in_type, gen);
  Tensor a_hidden = bench::random_device_operand(kTokens, kHidden, in_type, gen);
  Tensor y = Tensor::empty({kTokens, kHidden}, v == kW8a8 ? DType::i32 : DType::f32, gpu);
  Tensor one = Tensor::ones({1}, DType::f32, gpu);
  std::vector<Tensor> w, bias;
  for (int b = 0; b < kBlocks; ++b)
    for (const LayerShape& s : kBlock) {
      w.push_back(bench::random_device_operand(s.out, s.in, in_type, gen));
      bias.push_back(Tensor::zeros({s.out}, DType::f32, gpu));
    }
  auto stack = [&] {
    for (size_t i = 0; i < w.size(); ++i) {
      const LayerShape& s = kBlock[i % 4];
      const View a = (s.in == kDim ? a_dim : a_hidden).view();
      const View out{y.view().data, y.dtype(), gpu, {kTokens, s.out}, {s.out, 1}};
      View wv = w[i].view();
      if (v == kBf16) {
        const View wt{wv.data, wv.dtype, gpu, {s.in, s.out}, {1, s.in}};
        const View b = bias[i].view();
        cuda::matmul(a, wt, out, &b);
      } else if (v == kW8a8) {
        cuda::int8_matmul(a, wv, out);
      } else {
        cuda::fp8_gemm(a, one.view(), wv, one.view(), nullptr, out);
      }
    }
  };
  return cuda::time_ms(0, stack, warmup, repeats);
}

// ||a - b|| / ||b|| over n device floats.
double relative_l2(const float* a, const float* b, int64_t n) {
  const Device gpu{DeviceType::cuda, 0}, host{};
  std::vector<float> ha(static_cast<size_t>(n)), hb(static_cast<size_t>(n));
  cuda::copy_bytes(ha.data(), host, a, gpu, ha.size() * sizeof(float));
  cuda::copy_bytes(hb.data(), host, b, gpu, hb.size() * sizeof(float));
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < n; ++i) {
    diff += (double(ha[i]) - hb[i]) * (double(ha[i]) - hb[i]);
    norm += double(hb[i]) * hb[i];
  }
  return std::sqrt(diff / norm);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void report(const char* bench, double value, double peer_value) {
  std::printf(
      "OCTET_BENCH {\"bench\": \"%s\", \"value\": %.6g, \"unit\": \"tokens/s\", \"better\": "
      "\"higher\", \"peer\": \"octet bf16 prefill\", \"peer_value\": %.6g}\n",
      bench, value, peer_value);
  std::fflush(stdout);
}

int run(bool quick) {
  const bool fp8 = cuda::has_fp8(0);
  const int variants = fp8 ? kVariants : kFp8;
  Generator gen(2025);
  std::vector<CudaLinear> stacks[kVariants];
  for (int b = 0; b < kBlocks; ++b)
    for (const LayerShape& s : kBlock) add_layer(s, b, gen, stacks, fp8);
  Activations acts(gen);

  // The quantized layers compute what the bf16 ones do: block 0's qkv on the same input.
  const int64_t qkv_n = kTokens * 3 * kDim;
  Tensor reference = Tensor::empty({kTokens, 3 * kDim}, DType::f32, acts.x.device());
  stacks[kBf16][0].forward(ptr(acts.x), kTokens, ptr(reference));
  for (int v = kW8a8; v < variants; ++v) {
    stacks[v][0].forward(ptr(acts.x), kTokens, ptr(acts.qkv));
    const double rel = relative_l2(ptr(acts.qkv), ptr(reference), qkv_n);
    std::printf("cuda_runtime_bench: %s qkv of block 0 vs bf16: relative L2 %.4f\n",
                kVariantName[v], rel);
    if (!(rel < 0.15)) {
      std::fprintf(stderr, "cuda_runtime_bench: %s output is off (relative L2 %.4f)\n",
                   kVariantName[v], rel);
      return 1;
    }
  }

  const int rounds = quick ? 1 : 5, warmup = quick ? 1 : 3, repeats = quick ? 3 : 10;
  std::vector<double> ms[kVariants];
  for (int r = 0; r < rounds; ++r)
    for (int v = 0; v < variants; ++v)
      ms[v].push_back(cuda::time_ms(
          0, [&] { run_stack(stacks[v], acts); }, warmup, repeats));
  double stack_ms[kVariants] = {};
  for (int v = 0; v < variants; ++v) {
    stack_ms[v] = median(ms[v]);
    const double gemm = gemm_only_ms(static_cast<Variant>(v), gen, warmup, repeats);
    std::printf(
        "cuda_runtime_bench: %s stack %.3f ms (%.0f tokens/s); its 48 GEMM calls alone %.3f ms\n",
        kVariantName[v], stack_ms[v], kTokens / (stack_ms[v] * 1e-3), gemm);
  }
  const double bf16_rate = kTokens / (stack_ms[kBf16] * 1e-3);
  report("cuda_w8a8_prefill", kTokens / (stack_ms[kW8a8] * 1e-3), bf16_rate);
  if (fp8)
    report("cuda_fp8_prefill", kTokens / (stack_ms[kFp8] * 1e-3), bf16_rate);
  else
    std::printf("cuda_runtime_bench: FP8 row skipped (compute capability below 8.9)\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) quick |= std::strcmp(argv[i], "--quick") == 0;
  if (!octet::cuda::available()) {
    std::printf("cuda_runtime_bench: skipped (%s)\n", octet::cuda::compiled()
                                                          ? "no CUDA device on this machine"
                                                          : "octet was built without CUDA");
    return 0;
  }
  try {
    return run(quick);
  } catch (const octet::Error& e) {
    std::fprintf(stderr, "cuda_runtime_bench: %s\n", e.what());
    return 1;
  }
}
