// The deployable runtime's linear layers on a GPU
// (runtime::CudaLinear::forward_bf16): prefill through the linear layers of a
// decoder stack on bf16 activations, as a GPU inference runtime deploys them.
// Two stacks, all layers with bias:
//   gpt2   12 GPT-2-small blocks: qkv 768 -> 2304, proj 768 -> 768, fc 768 ->
//   3072 (GELU),
//          fc2 3072 -> 768; 16 x 512 = 8192 tokens
//   llama  4 blocks of LLaMA-7B's linear shapes: qkv 4096 -> 12288, o 4096 ->
//   4096, up
//          4096 -> 11008 (GELU, standing in for the gated SiLU), down 11008 ->
//          4096; 4096 tokens
// Each block's qkv, proj and fc read the block input (the attention itself is
// not run) and fc2's output is the next block's input. Variants of the same
// random weights (N(0, 1/in)):
//   bf16     one cuBLASLt bf16 GEMM per layer, bias and GELU in its epilogue,
//   bf16 out: the peer int8     W8A8, per-channel weights, static per-tensor
//   input scales: the stack input is
//            quantized once; fc writes fc2's codes (GELU and requantization in
//            the fused IMMA epilogue) and fc2 the next block's codes; qkv and
//            proj write bf16
//   int8lt   the same, with cuBLASLt's own requantizing IMMA epilogue where no
//   GELU intervenes fp8      E4M3 weights and inputs, per-tensor scales: one
//   cuBLASLt FP8 GEMM per layer, codes
//            chained as for int8 (FP8 D with a D scale)
// Timed with cuda::time_ms (CUDA events around back-to-back stacks) in
// alternating rounds, medians. Rows (bench/README.md):
// cuda_prefill_{int8,int8lt,fp8}_{gpt2,llama} in tokens/s against the bf16
// stack of the same run. Also prints each stack's GEMMs alone (random operands,
// no bias or quantization, bf16 out; int32 out for IMMA) and checks that each
// quantized variant computes what the bf16 one does (block 0's qkv, relative L2
// under 0.15). --quick: fewer repeats. Without a GPU it prints that it skipped
// and reports nothing.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/cuda_operands.h"
#include "framework/random.h"
#include "framework/tensor/tensor.h"
#include "ops/cuda/check.h"  // the CUDA runtime, for the graph replays only
#include "ops/cuda/gemm.h"
#include "ops/cuda/qgemm.h"
#include "ops/cuda/runtime.h"
#include "ops/dtype.h"
#include "ops/error.h"
#include "ops/quant/fp8.h"
#include "runtime/cuda_linear.h"

namespace {

using namespace octet;
using cuda::Activation;
using runtime::Bf16Call;
using runtime::CudaLinear;
using runtime::LinearKind;
using runtime::LinearOp;

struct Stack {
  const char* name;
  int64_t dim, qkv, hidden;  // qkv: its output width; proj is dim -> dim
  int blocks;
  int64_t tokens;
  int64_t in(int layer) const { return layer == 3 ? hidden : dim; }
  int64_t out(int layer) const { return layer == 0 ? qkv : layer == 2 ? hidden : dim; }
};
constexpr Stack kGpt2{"gpt2", 768, 2304, 3072, 12, 16 * 512};
constexpr Stack kLlama{"llama", 4096, 12288, 11008, 4, 4096};
constexpr const char* kLayerName[] = {"qkv", "proj", "fc", "fc2"};
// The inputs are ~N(0, 1) at every layer: static scales for |x| <= 6.
constexpr float kInputRange = 6.0f;

enum Variant { kBf16, kInt8, kInt8Lt, kFp8, kVariants };
const char* const kVariantName[] = {"bf16", "int8", "int8lt", "fp8"};

// One layer's host weights in every form; the blocks of a stack share them
// (timing depends on the shapes, and drawing 160M weights per LLaMA block would
// cost seconds each).
struct HostLayer {
  int64_t in = 0, out = 0;
  std::vector<float> w, bias, w_scales;
  std::vector<int8_t> i8;
  std::vector<uint8_t> f8;
  float f8_scale = 1;

  HostLayer(int64_t in_, int64_t out_, Generator& gen) : in(in_), out(out_) {
    const int64_t n = in * out;
    w.resize(static_cast<size_t>(n));
    bias.resize(static_cast<size_t>(out));
    const double sd = 1.0 / std::sqrt(static_cast<double>(in));
    for (float& v : w) v = static_cast<float>(gen.normal() * sd);
    for (float& v : bias) v = static_cast<float>(gen.normal() * 0.02);
    // int8 symmetric per output channel, as the w8a8 scheme exports them.
    i8.resize(w.size());
    w_scales.resize(static_cast<size_t>(out));
    for (int64_t j = 0; j < out; ++j) {
      float amax = 0;
      for (int64_t k = 0; k < in; ++k) amax = std::max(amax, std::abs(w[j * in + k]));
      w_scales[j] = amax / 127.0f;
      const float inv = 1.0f / w_scales[j];
      for (int64_t k = 0; k < in; ++k)
        i8[j * in + k] =
            static_cast<int8_t>(std::clamp(std::nearbyint(w[j * in + k] * inv), -127.0f, 127.0f));
    }
    // E4M3 per tensor, as the fp8_e4m3 scheme exports them (q = encode(w * s),
    // s = 448 / amax).
    float amax = 0;
    for (float v : w) amax = std::max(amax, std::abs(v));
    f8_scale = 448.0f / amax;
    f8.resize(w.size());
    quant::fp8_quantize(w.data(), n, f8_scale, quant::Fp8Format::kE4M3, true, f8.data());
  }

  CudaLinear make(Variant v, const std::string& name) const {
    LinearOp::Parts p;
    p.name = name;
    p.in = in, p.out = out;
    p.bias = bias.data();
    if (v == kBf16) {
      p.kind = LinearKind::kF32;
      p.weight = w.data();
      return CudaLinear(p, runtime::CudaLinearOptions{0, true});
    }
    p.input_quantized = true;
    if (v == kFp8) {
      p.kind = LinearKind::kFp8;
      p.weight_codes = f8.data();
      p.weight_spec = quant::QuantSpec::fp8_e4m3();
      p.weight_scales = {f8_scale};
      p.input_spec = quant::QuantSpec::fp8_e4m3();
      p.input_scales = {448.0f / kInputRange};
      return CudaLinear(p);
    }
    p.kind = LinearKind::kInt8;
    p.weight_codes = i8.data();
    p.weight_spec = quant::QuantSpec::int8_symmetric().per_channel(0);
    p.weight_scales = w_scales;
    p.input_spec = quant::QuantSpec::int8_symmetric();
    p.input_scales = {kInputRange / 127.0f};
    return CudaLinear(p, runtime::CudaLinearOptions{0, false, v == kInt8Lt});
  }
};

// Device activations: the bf16 stack input, two alternating block outputs
// (bf16, or codes for the quantized variants; sized for either), the side
// outputs qkv and proj (bf16) and h.
struct Activations {
  Tensor x, y[2], qkv, attn, h;
  Activations(const Stack& s, Generator& gen) {
    const Device gpu{DeviceType::cuda, 0};
    x = Tensor::randn({s.tokens, s.dim}, gen).to(DType::bf16).cuda();
    for (Tensor& t : y) t = Tensor::empty({s.tokens, s.dim}, DType::bf16, gpu);
    qkv = Tensor::empty({s.tokens, s.qkv}, DType::bf16, gpu);
    attn = Tensor::empty({s.tokens, s.dim}, DType::bf16, gpu);
    h = Tensor::empty({s.tokens, s.hidden}, DType::bf16, gpu);
  }
};

void* ptr(const Tensor& t) { return t.view().data; }

// One prefill through the stack; the quantized variants chain codes as
// described above.
void run_stack(const Stack& s, const std::vector<CudaLinear>& layers, Variant v,
               const Activations& a) {
  const bool chain = v != kBf16;
  const void* in = ptr(a.x);
  for (int b = 0; b < s.blocks; ++b) {
    const CudaLinear* l = &layers[4 * b];
    const bool last = b + 1 == s.blocks;
    Bf16Call read;
    read.input_codes = chain && b > 0;
    l[0].forward_bf16(in, s.tokens, ptr(a.qkv), read);
    l[1].forward_bf16(in, s.tokens, ptr(a.attn), read);
    Bf16Call fc = read;
    fc.activation = Activation::kGelu;
    fc.codes_for = chain ? &l[3] : nullptr;
    l[2].forward_bf16(in, s.tokens, ptr(a.h), fc);
    Bf16Call fc2;
    fc2.input_codes = chain;
    fc2.codes_for = chain && !last ? &layers[4 * (b + 1)] : nullptr;
    void* out = ptr(a.y[b % 2]);
    l[3].forward_bf16(ptr(a.h), s.tokens, out, fc2);
    in = out;
  }
}

// ms of the stack's GEMMs alone on random operands: what the layers cost beyond
// them is the quantization, the epilogues and the activations' traffic.
double gemm_only_ms(const Stack& s, Variant v, Generator& gen, int warmup, int repeats) {
  const Device gpu{DeviceType::cuda, 0};
  const DType in_type = v == kBf16 ? DType::bf16 : v == kFp8 ? DType::f8e4m3 : DType::i8;
  Tensor a_dim = bench::random_device_operand(s.tokens, s.dim, in_type, gen);
  Tensor a_hidden = bench::random_device_operand(s.tokens, s.hidden, in_type, gen);
  const int64_t widest = std::max(s.qkv, s.hidden);
  Tensor y =
      Tensor::empty({s.tokens, widest}, v == kBf16 || v == kFp8 ? DType::bf16 : DType::i32, gpu);
  Tensor one = Tensor::ones({1}, DType::f32, gpu);
  std::vector<Tensor> w;
  for (int layer = 0; layer < 4; ++layer)
    w.push_back(bench::random_device_operand(s.out(layer), s.in(layer), in_type, gen));
  auto stack = [&] {
    for (int b = 0; b < s.blocks; ++b)
      for (int layer = 0; layer < 4; ++layer) {
        const View a = (layer == 3 ? a_hidden : a_dim).view();
        const int64_t n = s.out(layer);
        const View out{ptr(y), y.dtype(), gpu, {s.tokens, n}, {n, 1}};
        if (v == kBf16)
          cuda::bf16_linear(a, w[layer].view(), {}, out);
        else if (v == kFp8)
          cuda::fp8_linear(a, one.view(), w[layer].view(), one.view(), {}, out);
        else
          cuda::int8_matmul(a, w[layer].view(), out);
      }
  };
  return cuda::time_ms(0, stack, warmup, repeats);
}

// One stack captured as a CUDA graph, for replays that take the host (kernel launches, cuBLASLt's
// descriptors) out of the timing. The scratch blocks the capture allocated are baked into it:
// while it lives, nothing but its replays and other such graphs may allocate.
class StackGraph {
 public:
  explicit StackGraph(const std::function<void()>& work) {
    cudaStream_t s = cuda::stream_on(0);
    OCTET_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
    cudaGraph_t graph = nullptr;
    try {
      work();
    } catch (...) {
      cudaStreamEndCapture(s, &graph);
      if (graph) cudaGraphDestroy(graph);
      throw;
    }
    OCTET_CUDA_CHECK(cudaStreamEndCapture(s, &graph));
    const cudaError_t rc = cudaGraphInstantiate(&exec_, graph, 0);
    cudaGraphDestroy(graph);
    OCTET_CUDA_CHECK(rc);
  }
  ~StackGraph() {
    if (exec_) cudaGraphExecDestroy(exec_);
  }
  StackGraph(const StackGraph&) = delete;
  StackGraph& operator=(const StackGraph&) = delete;
  void launch() const { OCTET_CUDA_CHECK(cudaGraphLaunch(exec_, cuda::stream_on(0))); }

 private:
  cudaGraphExec_t exec_ = nullptr;
};

// ms of the host's enqueueing of one stack (the device idle before it).
double enqueue_ms(const std::function<void()>& work) {
  cudaStream_t s = cuda::stream_on(0);
  OCTET_CUDA_CHECK(cudaStreamSynchronize(s));
  const auto start = std::chrono::steady_clock::now();
  work();
  const auto stop = std::chrono::steady_clock::now();
  OCTET_CUDA_CHECK(cudaStreamSynchronize(s));
  return std::chrono::duration<double, std::milli>(stop - start).count();
}

// ||a - b|| / ||b|| over n device bf16 values.
double relative_l2(const void* a, const void* b, int64_t n) {
  const Device gpu{DeviceType::cuda, 0}, host{};
  std::vector<uint16_t> ha(static_cast<size_t>(n)), hb(static_cast<size_t>(n));
  cuda::copy_bytes(ha.data(), host, a, gpu, ha.size() * 2);
  cuda::copy_bytes(hb.data(), host, b, gpu, hb.size() * 2);
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = bf16_to_f32(ha[i]), y = bf16_to_f32(hb[i]);
    diff += (x - y) * (x - y);
    norm += y * y;
  }
  return std::sqrt(diff / norm);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void report(const std::string& bench, double value, double peer_value) {
  std::printf(
      "OCTET_BENCH {\"bench\": \"%s\", \"value\": %.6g, \"unit\": "
      "\"tokens/s\", \"better\": "
      "\"higher\", \"peer\": \"octet bf16 prefill\", \"peer_value\": %.6g}\n",
      bench.c_str(), value, peer_value);
  std::fflush(stdout);
}

int run_stack_bench(const Stack& s, bool quick) {
  const bool fp8 = cuda::has_fp8(0);
  const int variants = fp8 ? kVariants : kFp8;
  Generator gen(2025);
  std::vector<HostLayer> host;
  for (int layer = 0; layer < 4; ++layer) host.emplace_back(s.in(layer), s.out(layer), gen);
  std::vector<CudaLinear> stacks[kVariants];
  for (int v = 0; v < variants; ++v)
    for (int b = 0; b < s.blocks; ++b)
      for (int layer = 0; layer < 4; ++layer)
        stacks[v].push_back(host[layer].make(
            static_cast<Variant>(v), "blocks." + std::to_string(b) + "." + kLayerName[layer]));
  host.clear();
  Activations acts(s, gen);

  // The quantized layers compute what the bf16 ones do: block 0's qkv on the
  // same input.
  const int64_t qkv_n = s.tokens * s.qkv;
  Tensor reference = Tensor::empty({s.tokens, s.qkv}, DType::bf16, acts.x.device());
  stacks[kBf16][0].forward_bf16(ptr(acts.x), s.tokens, ptr(reference));
  // A variant cuBLASLt has no algorithm for on this device is reported and left out.
  bool ok[kVariants] = {true, true, true, true};
  for (int v = kInt8; v < variants; ++v) {
    try {
      run_stack(s, stacks[v], static_cast<Variant>(v), acts);
      stacks[v][0].forward_bf16(ptr(acts.x), s.tokens, ptr(acts.qkv));
    } catch (const Error& e) {
      std::printf("cuda_runtime_bench: %s %s left out: %s\n", s.name, kVariantName[v], e.what());
      ok[v] = false;
      continue;
    }
    const double rel = relative_l2(ptr(acts.qkv), ptr(reference), qkv_n);
    std::printf("cuda_runtime_bench: %s %s qkv of block 0 vs bf16: relative L2 %.4f\n", s.name,
                kVariantName[v], rel);
    if (!(rel < 0.15)) {
      std::fprintf(stderr, "cuda_runtime_bench: %s %s output is off (relative L2 %.4f)\n", s.name,
                   kVariantName[v], rel);
      return 1;
    }
  }

  const int rounds = quick ? 1 : 5, warmup = quick ? 1 : 3, repeats = quick ? 3 : 10;
  std::vector<double> ms[kVariants];
  for (int r = 0; r < rounds; ++r)
    for (int v = 0; v < variants; ++v)
      if (ok[v])
        ms[v].push_back(cuda::time_ms(
            0, [&] { run_stack(s, stacks[v], static_cast<Variant>(v), acts); }, warmup, repeats));
  double rate[kVariants] = {};
  for (int v = 0; v < variants; ++v) {
    if (!ok[v]) continue;
    const double stack_ms = median(ms[v]);
    rate[v] = s.tokens / (stack_ms * 1e-3);
    // int8lt runs the same IMMA GEMMs as int8 (its requantization is in their
    // epilogue).
    const Variant gemm_variant = v == kInt8Lt ? kInt8 : static_cast<Variant>(v);
    const double gemm = gemm_only_ms(s, gemm_variant, gen, warmup, repeats);
    std::printf(
        "cuda_runtime_bench: %s %-6s stack %.3f ms (%.0f tokens/s, "
        "%.2fx bf16); its %d GEMMs "
        "alone %.3f ms\n",
        s.name, kVariantName[v], stack_ms, rate[v], rate[v] / rate[kBf16], 4 * s.blocks, gemm);
  }
  // For the record: the host's share. Each stack's enqueueing alone, and its replay as one CUDA
  // graph (alternating rounds, medians), against the bf16 stack's.
  std::vector<std::unique_ptr<StackGraph>> graphs(kVariants);
  std::vector<double> graph_ms[kVariants];
  for (int v = 0; v < variants; ++v) {
    if (!ok[v]) continue;
    auto work = [&, v] { run_stack(s, stacks[v], static_cast<Variant>(v), acts); };
    std::printf("cuda_runtime_bench: %s %-6s host enqueue of one stack %.3f ms\n", s.name,
                kVariantName[v], enqueue_ms(work));
    try {
      graphs[v] = std::make_unique<StackGraph>(work);
    } catch (const Error& e) {
      std::printf("cuda_runtime_bench: %s %s not captured as a graph: %s\n", s.name,
                  kVariantName[v], e.what());
    }
  }
  for (int r = 0; r < rounds; ++r)
    for (int v = 0; v < variants; ++v)
      if (graphs[v])
        graph_ms[v].push_back(cuda::time_ms(
            0, [&] { graphs[v]->launch(); }, warmup, repeats));
  for (int v = 0; v < variants && graphs[kBf16]; ++v)
    if (graphs[v])
      std::printf("cuda_runtime_bench: %s %-6s as one CUDA graph %.3f ms (%.2fx bf16's graph)\n",
                  s.name, kVariantName[v], median(graph_ms[v]),
                  median(graph_ms[kBf16]) / median(graph_ms[v]));
  graphs.clear();

  if (variants > kFp8 && ok[kFp8])
    std::printf("cuda_runtime_bench: %s fp8 codes out %s\n", s.name,
                stacks[kFp8][2].fp8_codes_in_gemm() ? "straight from cuBLASLt's FP8 output"
                                                    : "through a bf16 store and a quantize pass");
  for (int v = kInt8; v < variants; ++v)
    if (ok[v])
      report(std::string("cuda_prefill_") + kVariantName[v] + "_" + s.name, rate[v], rate[kBf16]);
  if (!fp8)
    std::printf(
        "cuda_runtime_bench: FP8 rows skipped (compute capability "
        "below 8.9)\n");
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
    for (const Stack* s : {&kGpt2, &kLlama})
      if (const int rc = run_stack_bench(*s, quick); rc != 0) return rc;
    return 0;
  } catch (const octet::Error& e) {
    std::fprintf(stderr, "cuda_runtime_bench: %s\n", e.what());
    return 1;
  }
}
