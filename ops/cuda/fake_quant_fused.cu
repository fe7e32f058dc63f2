#include "ops/cuda/check.h"
#include "ops/cuda/fake_quant_fused.h"
#include "ops/cuda/fp8.cuh"
#include "ops/cuda/indexing.cuh"
#include "ops/cuda/quant_runs.cuh"
#include "ops/cuda/runtime.h"

namespace octet::cuda {
namespace {

using quant_detail::float_of;
using quant_detail::key_of;
using quant_detail::mul_rn;
using quant_detail::rounded_zero_point;
using quant_detail::Runs;

// The per-element rules of fake_quant.cu, as per-thread objects that keep the scale of the run
// they are in (a per-tensor scale is read once per thread). Each returns y and sets the mask bit.
template <int kMantissaBits>
struct Fp8Rule {
  const float* scale;
  bool saturate;
  float max;
  int64_t c_seen = -1;
  float s = 0.0f, inv = 0.0f;
  __device__ __forceinline__ float operator()(float x, int64_t c, uint8_t& in_range) {
    if (c != c_seen) s = scale[c], inv = __fdiv_rn(1.0f, s), c_seen = c;
    const float xs = __fmul_rn(x, s);
    in_range = fabsf(xs) <= max ? 1 : 0;
    return __fmul_rn(fp8::decode<kMantissaBits>(fp8::encode<kMantissaBits>(xs, saturate)), inv);
  }
};

struct IntRule {
  const float* scale;
  const float* zero_point;
  float lo, hi;
  int64_t c_seen = -1;
  float s = 0.0f, inv = 0.0f, zp = 0.0f;
  __device__ __forceinline__ float operator()(float x, int64_t c, uint8_t& in_range) {
    if (c != c_seen) {
      s = scale[c], inv = __fdiv_rn(1.0f, s), c_seen = c;
      zp = rounded_zero_point(zero_point, c, lo, hi);
    }
    const float q = rintf(mul_rn(x, inv)) + zp;
    const float clamped = hi < (q < lo ? lo : q) ? hi : (q < lo ? lo : q);
    in_range = (q >= lo) & (q <= hi);
    return q != q ? q : mul_rn(clamped - zp, s);  // NaN stays NaN, as on the CPU
  }
};

__device__ __forceinline__ void store(float* y, int64_t i, float v) { y[i] = v; }
__device__ __forceinline__ void store(uint16_t* y, int64_t i, float v) {
  y[i] = f32_to_bf16_bits(v);
}
__device__ __forceinline__ void store4(float* y, int64_t g, const float (&v)[4]) {
  reinterpret_cast<float4*>(y)[g] = make_float4(v[0], v[1], v[2], v[3]);
}
__device__ __forceinline__ void store4(uint16_t* y, int64_t g, const float (&v)[4]) {
  uint2 packed;
  packed.x = uint32_t(f32_to_bf16_bits(v[0])) | (uint32_t(f32_to_bf16_bits(v[1])) << 16);
  packed.y = uint32_t(f32_to_bf16_bits(v[2])) | (uint32_t(f32_to_bf16_bits(v[3])) << 16);
  reinterpret_cast<uint2*>(y)[g] = packed;
}

// The running max |x| of one thread (NaN kept apart as a flag, as range.cu's accumulators do).
struct AbsMax {
  float hi = 0.0f;
  bool nan = false;
  __device__ __forceinline__ void add(float v) {
    const float a = fabsf(v);
    hi = a > hi ? a : hi;
    nan = nan || isnan(a);
  }
};

// acc[0]: key_of(max |x|), acc[1]: NaN flag.
__global__ void amax_init_kernel(uint32_t* acc) {
  acc[0] = key_of(0.0f);
  acc[1] = 0u;
}
__global__ void amax_finish_kernel(const uint32_t* acc, float* amax) {
  *amax = acc[1] != 0u ? __int_as_float(0x7fc00000) : float_of(acc[0]);
}

// Groups of four first (when `vector`), then the elements left (all of them otherwise); every
// thread reaches the warp merge at the end, which amax needs.
template <typename Rule, typename Out, bool kAmax>
__global__ void fused_kernel(const float* x, int64_t n, Runs runs, Rule rule, bool vector, Out* y,
                             uint8_t* mask, uint32_t* amax_acc, int32_t* clipped) {
  const int64_t first = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  AbsMax am;
  bool any_clipped = false;
  const int64_t groups = vector ? n / 4 : 0;
  for (int64_t g = first; g < groups; g += step) {
    const float4 v4 = reinterpret_cast<const float4*>(x)[g];
    const float v[4] = {v4.x, v4.y, v4.z, v4.w};
    float out[4];
    uint8_t m[4];
    for (int k = 0; k < 4; ++k) {
      out[k] = rule(v[k], runs.scale_of(4 * g + k), m[k]);
      if (kAmax) am.add(v[k]);
    }
    store4(y, g, out);
    if (mask != nullptr) reinterpret_cast<uchar4*>(mask)[g] = make_uchar4(m[0], m[1], m[2], m[3]);
    any_clipped = any_clipped || !(m[0] & m[1] & m[2] & m[3]);
  }
  for (int64_t i = 4 * groups + first; i < n; i += step) {
    uint8_t m;
    store(y, i, rule(x[i], runs.scale_of(i), m));
    if (mask != nullptr) mask[i] = m;
    any_clipped = any_clipped || !m;
    if (kAmax) am.add(x[i]);
  }
  // The block merges its threads' amax and clipped flags (warp shuffles, then shared memory) and
  // makes one atomic of each: per-warp atomics on one address serialised into most of the
  // kernel's time on an H100 (4.7 of 62 ms in a QAT step). Every thread gets here.
  __shared__ float block_hi[kThreads / 32];
  __shared__ int block_flags[kThreads / 32];  // bit 0: NaN seen, bit 1: clipped
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int flags = (am.nan ? 1 : 0) | (any_clipped ? 2 : 0);
  for (int lane_mask = 16; lane_mask > 0; lane_mask >>= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, am.hi, lane_mask);
    am.hi = other > am.hi ? other : am.hi;
    flags |= __shfl_xor_sync(0xffffffffu, flags, lane_mask);
  }
  if (lane == 0) block_hi[warp] = am.hi, block_flags[warp] = flags;
  __syncthreads();
  if (threadIdx.x == 0) {
    float hi = 0.0f;
    flags = 0;
    for (int w = 0; w < int(blockDim.x >> 5); ++w) {
      hi = block_hi[w] > hi ? block_hi[w] : hi;
      flags |= block_flags[w];
    }
    if (kAmax && hi > 0.0f) atomicMax(&amax_acc[0], key_of(hi));
    if (kAmax && (flags & 1)) atomicOr(&amax_acc[1], 1u);
    if (clipped != nullptr && (flags & 2)) atomicOr(clipped, 1);
  }
}

// Grids of at most this many blocks (of kThreads), each thread striding over several groups: a
// few waves on any current GPU, and few atomics per launch.
constexpr unsigned kMaxFusedBlocks = 4096;
unsigned fused_blocks(int64_t work_items) {
  const unsigned b = blocks_for(work_items);
  return b > kMaxFusedBlocks ? kMaxFusedBlocks : b;
}

// Four elements per thread (16-byte gradient, 4-byte mask accesses) after one look at the flag.
__global__ void ste_mask_in_place_kernel(float* g, const uint8_t* mask, int64_t n, bool vector,
                                         const int32_t* clipped) {
  if (*clipped == 0) return;
  const int64_t first = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  const int64_t groups = vector ? n / 4 : 0;
  for (int64_t q = first; q < groups; q += step) {
    const uchar4 m = reinterpret_cast<const uchar4*>(mask)[q];
    if (m.x & m.y & m.z & m.w) continue;  // nothing to zero: no store
    float4 v = reinterpret_cast<float4*>(g)[q];
    v = make_float4(m.x ? v.x : 0.0f, m.y ? v.y : 0.0f, m.z ? v.z : 0.0f, m.w ? v.w : 0.0f);
    reinterpret_cast<float4*>(g)[q] = v;
  }
  for (int64_t i = 4 * groups + first; i < n; i += step)
    if (!mask[i]) g[i] = 0.0f;
}

template <typename Rule, typename Out>
void launch(const char* op, const float* x, int64_t n, Runs runs, Rule rule,
            const FakeQuantOutputs& out, int device) {
  cudaStream_t s = stream_on(device);
  const bool vector = is_aligned(x, 16) && is_aligned(out.y, 4 * sizeof(Out)) &&
                      (out.mask == nullptr || is_aligned(out.mask, 4));
  const unsigned blocks = fused_blocks(vector ? (n + 3) / 4 : n);
  auto* y = static_cast<Out*>(out.y);
  if (out.amax == nullptr) {
    if (n > 0) {
      fused_kernel<Rule, Out, false>
          <<<blocks, kThreads, 0, s>>>(x, n, runs, rule, vector, y, out.mask, nullptr, out.clipped);
      OCTET_CUDA_CHECK_LAUNCH();
    }
    return;
  }
  OCTET_CHECK(runs.count == 1, op, "a fused amax is per tensor; this layout has ", runs.count,
              " scales");
  DeviceBuffer acc(2 * sizeof(uint32_t), device);
  amax_init_kernel<<<1, 1, 0, s>>>(acc.as<uint32_t>());
  OCTET_CUDA_CHECK_LAUNCH();
  if (n > 0) {
    fused_kernel<Rule, Out, true><<<blocks, kThreads, 0, s>>>(x, n, runs, rule, vector, y, out.mask,
                                                              acc.as<uint32_t>(), out.clipped);
    OCTET_CUDA_CHECK_LAUNCH();
  }
  amax_finish_kernel<<<1, 1, 0, s>>>(acc.as<const uint32_t>(), out.amax);
  OCTET_CUDA_CHECK_LAUNCH();
}

template <typename Rule>
void dispatch(const char* op, const float* x, int64_t n, const quant::ScaleLayout& layout,
              const Rule& rule, const FakeQuantOutputs& out, int device) {
  // An empty tensor's layout may have no elements per run; nothing is quantized then, but a
  // requested amax is still written (0).
  const Runs runs = n == 0 ? Runs{1, layout.count} : quant_detail::runs_of(layout, n, op);
  OCTET_CHECK(out.y != nullptr || n == 0, op, "needs an output");
  if (out.y_dtype == DType::f32) {
    launch<Rule, float>(op, x, n, runs, rule, out, device);
  } else {
    OCTET_CHECK(out.y_dtype == DType::bf16, op, "writes f32 or bf16, not ",
                dtype_name(out.y_dtype));
    launch<Rule, uint16_t>(op, x, n, runs, rule, out, device);
  }
}

}  // namespace

void apply_ste_mask_in_place(float* g, const uint8_t* mask, int64_t n, const int32_t* clipped,
                             int device) {
  OCTET_CHECK(n >= 0, "apply_ste_mask_in_place", "negative length ", n);
  if (n == 0) return;
  const bool vector = is_aligned(g, 16) && is_aligned(mask, 4);
  ste_mask_in_place_kernel<<<fused_blocks(vector ? (n + 3) / 4 : n), kThreads, 0,
                             stream_on(device)>>>(g, mask, n, vector, clipped);
  OCTET_CUDA_CHECK_LAUNCH();
}

void fake_quant_fp8_fused(const float* x, int64_t n, const quant::ScaleLayout& layout,
                          const float* scale, quant::Fp8Format format, bool saturate,
                          const FakeQuantOutputs& out, int device) {
  const char* op = "fake_quant_fp8_fused";
  const float max = static_cast<float>(quant::fp8_max(format));
  if (format == quant::Fp8Format::kE4M3) {
    dispatch(op, x, n, layout, Fp8Rule<3>{scale, saturate, max}, out, device);
  } else {
    dispatch(op, x, n, layout, Fp8Rule<2>{scale, saturate, max}, out, device);
  }
}

void fake_quant_int_fused(const float* x, int64_t n, const quant::ScaleLayout& layout,
                          const float* scale, const float* zero_point, int64_t qmin, int64_t qmax,
                          const FakeQuantOutputs& out, int device) {
  dispatch("fake_quant_int_fused", x, n, layout,
           IntRule{scale, zero_point, float(qmin), float(qmax)}, out, device);
}

}  // namespace octet::cuda
