#include <vector>

#include "ops/cuda/check.h"
#include "ops/cuda/fp8.cuh"
#include "ops/cuda/indexing.cuh"
#include "ops/cuda/quant_runs.cuh"
#include "ops/cuda/quantize.h"
#include "ops/quant/scale_rules.h"

namespace octet::cuda {
namespace {

using quant::Fp8Format;
using quant_detail::rounded_zero_point;
using quant_detail::Runs;

// The CPU's quantize_run: NaN fails both comparisons and lands on qmin.
template <typename Code>
__device__ __forceinline__ Code int_code(float x, float inv_s, float zp, float lo, float hi) {
  const float q = rintf(__fmul_rn(x, inv_s)) + zp;
  const float clamped = q > lo ? (q < hi ? q : hi) : lo;
  return static_cast<Code>(static_cast<int32_t>(clamped));
}

template <typename Code>
__global__ void quantize_int_kernel(const float* x, int64_t n, Runs runs, const float* scale,
                                    const float* zero_point, float lo, float hi, Code* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = runs.scale_of(i);
    const float inv_s = __fdiv_rn(1.0f, scale[c]);
    out[i] = int_code<Code>(x[i], inv_s, rounded_zero_point(zero_point, c, lo, hi), lo, hi);
  }
}

template <typename Code>
__global__ void dequantize_int_kernel(const Code* q, int64_t n, Runs runs, const float* scale,
                                      const float* zero_point, float lo, float hi, float* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = runs.scale_of(i);
    const float zp = rounded_zero_point(zero_point, c, lo, hi);
    out[i] = __fmul_rn(static_cast<float>(q[i]) - zp, scale[c]);
  }
}

template <int kMantissaBits>
__global__ void quantize_fp8_kernel(const float* x, int64_t n, Runs runs, const float* scale,
                                    bool saturate, uint8_t* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = fp8::encode<kMantissaBits>(__fmul_rn(x[i], scale[runs.scale_of(i)]), saturate);
}

template <int kMantissaBits>
__global__ void dequantize_fp8_kernel(const uint8_t* q, int64_t n, Runs runs, const float* scale,
                                      float* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = __fmul_rn(fp8::decode<kMantissaBits>(q[i]), __fdiv_rn(1.0f, scale[runs.scale_of(i)]));
}

// One block per row (grid-stride over rows): max |x| of the row, NaN if the row holds one.
__global__ void row_abs_max_kernel(const float* x, int64_t m, int64_t k, int64_t ldx, float* amax) {
  __shared__ float best[kThreads];
  __shared__ int nan[kThreads];
  for (int64_t r = blockIdx.x; r < m; r += gridDim.x) {
    float b = 0.0f;
    int has_nan = 0;
    for (int64_t j = threadIdx.x; j < k; j += blockDim.x) {
      const float v = fabsf(x[r * ldx + j]);
      b = v > b ? v : b;
      has_nan |= isnan(v) ? 1 : 0;
    }
    best[threadIdx.x] = b;
    nan[threadIdx.x] = has_nan;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
      if (threadIdx.x < half) {
        const float o = best[threadIdx.x + half];
        best[threadIdx.x] = o > best[threadIdx.x] ? o : best[threadIdx.x];
        nan[threadIdx.x] |= nan[threadIdx.x + half];
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) amax[r] = nan[0] ? __int_as_float(0x7fc00000) : best[0];
    __syncthreads();
  }
}

__global__ void quantize_rows_kernel(const float* x, int64_t m, int64_t k, int64_t ldx,
                                     const float* scales, int8_t* codes) {
  const int64_t n = m * k;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / k, j = i - r * k;
    const float inv_s = __fdiv_rn(1.0f, scales[r]);
    codes[i] = int_code<int8_t>(x[r * ldx + j], inv_s, 0.0f, -127.0f, 127.0f);
  }
}

// The bf16 quantizers: Encode maps one f32 value to its code. Each thread takes groups of 8 values
// (one 16-byte load, one 8-byte store) when kVector; the n % 8 tail, or everything when the
// pointers are not aligned for it, goes one value at a time.
struct Int8FromBf16 {
  float inv_s, lo, hi;
  __device__ uint8_t operator()(float x) const {
    return static_cast<uint8_t>(int_code<int8_t>(x, inv_s, 0.0f, lo, hi));
  }
};
template <int kMantissaBits>
struct Fp8FromBf16 {
  float s;
  bool saturate;
  __device__ uint8_t operator()(float x) const {
    return fp8::encode<kMantissaBits>(__fmul_rn(x, s), saturate);
  }
};

template <bool kVector, typename Encode>
__device__ void quantize_bf16_body(const uint16_t* x, int64_t n, uint8_t* out, Encode encode) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  int64_t done = 0;
  if constexpr (kVector) {
    const int64_t groups = n / 8;
    for (int64_t g = first; g < groups; g += stride) {
      const uint4 v = reinterpret_cast<const uint4*>(x)[g];
      const uint32_t words[4] = {v.x, v.y, v.z, v.w};
      uint32_t packed[2] = {0, 0};
      for (int k = 0; k < 8; ++k) {
        const uint16_t bits = static_cast<uint16_t>(words[k / 2] >> (16 * (k % 2)));
        packed[k / 4] |= static_cast<uint32_t>(encode(bf16_bits_to_f32(bits))) << (8 * (k % 4));
      }
      reinterpret_cast<uint2*>(out)[g] = make_uint2(packed[0], packed[1]);
    }
    done = groups * 8;
  }
  for (int64_t i = done + first; i < n; i += stride) out[i] = encode(bf16_bits_to_f32(x[i]));
}

template <bool kVector, typename Encode>
__global__ void quantize_bf16_kernel(const uint16_t* x, int64_t n, uint8_t* out, Encode encode) {
  quantize_bf16_body<kVector>(x, n, out, encode);
}

// The scale is read on the device (it may have been computed there); each thread derives its own
// multiplier, as quantize_int_kernel does.
template <bool kVector>
__global__ void quantize_bf16_int8_kernel(const uint16_t* x, int64_t n, const float* scale,
                                          float lo, float hi, int8_t* out) {
  quantize_bf16_body<kVector>(x, n, reinterpret_cast<uint8_t*>(out),
                              Int8FromBf16{__fdiv_rn(1.0f, scale[0]), lo, hi});
}
template <bool kVector, int kMantissaBits>
__global__ void quantize_bf16_fp8_kernel(const uint16_t* x, int64_t n, const float* scale,
                                         bool saturate, uint8_t* out) {
  quantize_bf16_body<kVector>(x, n, out, Fp8FromBf16<kMantissaBits>{scale[0], saturate});
}

unsigned blocks_for_groups(int64_t n, bool vector) { return blocks_for(vector ? (n + 7) / 8 : n); }

}  // namespace

void quantize_bf16_int8(const uint16_t* x, int64_t n, const float* scale, int64_t qmin,
                        int64_t qmax, int8_t* out, int device) {
  OCTET_CHECK(n >= 0, "quantize_bf16_int8", "negative length ", n);
  if (n == 0) return;
  cudaStream_t s = stream_on(device);
  const bool vector = is_aligned(x, 16) && is_aligned(out, 8);
  const float lo = static_cast<float>(qmin), hi = static_cast<float>(qmax);
  const unsigned blocks = blocks_for_groups(n, vector);
  if (vector)
    quantize_bf16_int8_kernel<true><<<blocks, kThreads, 0, s>>>(x, n, scale, lo, hi, out);
  else
    quantize_bf16_int8_kernel<false><<<blocks, kThreads, 0, s>>>(x, n, scale, lo, hi, out);
  OCTET_CUDA_CHECK_LAUNCH();
}

void quantize_bf16_fp8(const uint16_t* x, int64_t n, const float* scale, Fp8Format format,
                       bool saturate, uint8_t* out, int device) {
  OCTET_CHECK(n >= 0, "quantize_bf16_fp8", "negative length ", n);
  if (n == 0) return;
  cudaStream_t s = stream_on(device);
  const bool vector = is_aligned(x, 16) && is_aligned(out, 8);
  const unsigned blocks = blocks_for_groups(n, vector);
  const bool e4m3 = format == Fp8Format::kE4M3;
  if (vector && e4m3)
    quantize_bf16_fp8_kernel<true, 3><<<blocks, kThreads, 0, s>>>(x, n, scale, saturate, out);
  else if (vector)
    quantize_bf16_fp8_kernel<true, 2><<<blocks, kThreads, 0, s>>>(x, n, scale, saturate, out);
  else if (e4m3)
    quantize_bf16_fp8_kernel<false, 3><<<blocks, kThreads, 0, s>>>(x, n, scale, saturate, out);
  else
    quantize_bf16_fp8_kernel<false, 2><<<blocks, kThreads, 0, s>>>(x, n, scale, saturate, out);
  OCTET_CUDA_CHECK_LAUNCH();
}

template <typename Code>
void quantize_int(const float* x, int64_t n, const quant::ScaleLayout& layout, const float* scale,
                  const float* zero_point, int64_t qmin, int64_t qmax, Code* out, int device) {
  const Runs runs = quant_detail::runs_of(layout, n, "quantize_int");
  if (n == 0) return;
  cudaStream_t s = stream_on(device);
  quantize_int_kernel<Code><<<blocks_for(n), kThreads, 0, s>>>(
      x, n, runs, scale, zero_point, static_cast<float>(qmin), static_cast<float>(qmax), out);
  OCTET_CUDA_CHECK_LAUNCH();
}

template <typename Code>
void dequantize_int(const Code* q, int64_t n, const quant::ScaleLayout& layout, const float* scale,
                    const float* zero_point, int64_t qmin, int64_t qmax, float* out, int device) {
  const Runs runs = quant_detail::runs_of(layout, n, "dequantize_int");
  if (n == 0) return;
  cudaStream_t s = stream_on(device);
  dequantize_int_kernel<Code><<<blocks_for(n), kThreads, 0, s>>>(
      q, n, runs, scale, zero_point, static_cast<float>(qmin), static_cast<float>(qmax), out);
  OCTET_CUDA_CHECK_LAUNCH();
}

void quantize_fp8(const float* x, int64_t n, const quant::ScaleLayout& layout, const float* scale,
                  Fp8Format format, bool saturate, uint8_t* out, int device) {
  const Runs runs = quant_detail::runs_of(layout, n, "quantize_fp8");
  if (n == 0) return;
  cudaStream_t s = stream_on(device);
  if (format == Fp8Format::kE4M3) {
    quantize_fp8_kernel<3><<<blocks_for(n), kThreads, 0, s>>>(x, n, runs, scale, saturate, out);
  } else {
    quantize_fp8_kernel<2><<<blocks_for(n), kThreads, 0, s>>>(x, n, runs, scale, saturate, out);
  }
  OCTET_CUDA_CHECK_LAUNCH();
}

void dequantize_fp8(const uint8_t* q, int64_t n, const quant::ScaleLayout& layout,
                    const float* scale, Fp8Format format, float* out, int device) {
  const Runs runs = quant_detail::runs_of(layout, n, "dequantize_fp8");
  if (n == 0) return;
  cudaStream_t s = stream_on(device);
  if (format == Fp8Format::kE4M3) {
    dequantize_fp8_kernel<3><<<blocks_for(n), kThreads, 0, s>>>(q, n, runs, scale, out);
  } else {
    dequantize_fp8_kernel<2><<<blocks_for(n), kThreads, 0, s>>>(q, n, runs, scale, out);
  }
  OCTET_CUDA_CHECK_LAUNCH();
}

void quantize_rows_int8(const float* x, int64_t m, int64_t k, int64_t ldx, int8_t* codes,
                        float* scales, int device) {
  constexpr const char* kOp = "quantize_rows_int8";
  OCTET_CHECK(m >= 0 && k >= 0, kOp, "negative shape [", m, ", ", k, "]");
  OCTET_CHECK(ldx >= k, kOp, "leading dimension ", ldx, " is below k = ", k);
  if (m == 0) return;
  static const quant::QuantSpec spec =
      quant::QuantSpec::int8_symmetric().per_token().with_source(quant::ScaleSource::kCurrent);
  const Device dev{DeviceType::cuda, device}, host{};
  std::vector<float> row(static_cast<size_t>(m), 0.0f);
  if (k > 0) {
    cudaStream_t s = stream_on(device);
    void* amax = allocate(row.size() * sizeof(float), device);
    try {
      row_abs_max_kernel<<<blocks_for(m * kThreads), kThreads, 0, s>>>(x, m, k, ldx,
                                                                       static_cast<float*>(amax));
      OCTET_CUDA_CHECK_LAUNCH();
      copy_bytes(row.data(), host, amax, dev, row.size() * sizeof(float));
    } catch (...) {
      release(amax, device);
      throw;
    }
    release(amax, device);
  }
  // max(-min(min, 0), max(max, 0)) of the CPU rule is exactly max |x|, so (-amax, amax) gives
  // int_qparams the same scale as the row's min and max; non-finite rows throw here.
  for (float& a : row) a = quant::int_qparams(spec, -a, a, kOp).scale;
  copy_bytes(scales, dev, row.data(), host, row.size() * sizeof(float));
  if (k == 0) return;
  cudaStream_t s = stream_on(device);
  quantize_rows_kernel<<<blocks_for(m * k), kThreads, 0, s>>>(x, m, k, ldx, scales, codes);
  OCTET_CUDA_CHECK_LAUNCH();
}

template void quantize_int<int8_t>(const float*, int64_t, const quant::ScaleLayout&, const float*,
                                   const float*, int64_t, int64_t, int8_t*, int);
template void quantize_int<uint8_t>(const float*, int64_t, const quant::ScaleLayout&, const float*,
                                    const float*, int64_t, int64_t, uint8_t*, int);
template void dequantize_int<int8_t>(const int8_t*, int64_t, const quant::ScaleLayout&,
                                     const float*, const float*, int64_t, int64_t, float*, int);
template void dequantize_int<uint8_t>(const uint8_t*, int64_t, const quant::ScaleLayout&,
                                      const float*, const float*, int64_t, int64_t, float*, int);

}  // namespace octet::cuda
