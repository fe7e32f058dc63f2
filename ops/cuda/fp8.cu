#include <cuda_fp8.h>

#include "ops/cuda/check.h"
#include "ops/cuda/fp8.cuh"
#include "ops/cuda/fp8.h"
#include "ops/cuda/indexing.cuh"

namespace octet::cuda {
namespace {

using quant::Fp8Format;

template <int kMantissaBits>
__global__ void quantize_kernel(const float* x, int64_t n, float scale, bool saturate,
                                uint8_t* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = fp8::encode<kMantissaBits>(__fmul_rn(x[i], scale), saturate);
}

template <int kMantissaBits>
__global__ void dequantize_kernel(const uint8_t* q, int64_t n, float scale_inv, float* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = __fmul_rn(fp8::decode<kMantissaBits>(q[i]), scale_inv);
}

__global__ void encode_patterns_kernel(uint32_t first, int64_t count, Fp8Format format,
                                       bool saturate, uint8_t* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = fp8::encode(__uint_as_float(first + static_cast<uint32_t>(i)), format, saturate);
}

// result[0]: mismatches; result[1]: the lowest mismatch as (bits << 16 | ours << 8 | theirs),
// so one atomicMin keeps the lowest pattern together with its codes (starts at ~0).
__global__ void compare_kernel(uint64_t first, uint64_t count, Fp8Format format, bool saturate,
                               unsigned long long* result) {
  const __nv_fp8_interpretation_t kind = format == Fp8Format::kE4M3 ? __NV_E4M3 : __NV_E5M2;
  const __nv_saturation_t sat = saturate ? __NV_SATFINITE : __NV_NOSAT;
  unsigned long long local = 0;
  for (uint64_t i = blockIdx.x * uint64_t(blockDim.x) + threadIdx.x; i < count;
       i += uint64_t(gridDim.x) * blockDim.x) {
    const uint32_t bits = static_cast<uint32_t>(first + i);
    const float x = __uint_as_float(bits);
    const uint8_t ours = fp8::encode(x, format, saturate);
    const uint8_t theirs = static_cast<uint8_t>(__nv_cvt_float_to_fp8(x, sat, kind));
    if (ours != theirs) {
      ++local;
      atomicMin(&result[1], (static_cast<unsigned long long>(bits) << 16) |
                                (static_cast<unsigned long long>(ours) << 8) | theirs);
    }
  }
  if (local != 0) atomicAdd(&result[0], local);
}

void check_length(const char* op, int64_t n) { OCTET_CHECK(n >= 0, op, "negative length ", n); }

}  // namespace

void fp8_quantize(const float* x, int64_t n, float scale, Fp8Format format, bool saturate,
                  uint8_t* out, int device) {
  check_length("fp8_quantize", n);
  if (n == 0) return;
  cudaStream_t s = stream_on(device);
  if (format == Fp8Format::kE4M3) {
    quantize_kernel<3><<<blocks_for(n), kThreads, 0, s>>>(x, n, scale, saturate, out);
  } else {
    quantize_kernel<2><<<blocks_for(n), kThreads, 0, s>>>(x, n, scale, saturate, out);
  }
  OCTET_CUDA_CHECK_LAUNCH();
}

void fp8_dequantize(const uint8_t* q, int64_t n, float scale_inv, Fp8Format format, float* out,
                    int device) {
  check_length("fp8_dequantize", n);
  if (n == 0) return;
  cudaStream_t s = stream_on(device);
  if (format == Fp8Format::kE4M3) {
    dequantize_kernel<3><<<blocks_for(n), kThreads, 0, s>>>(q, n, scale_inv, out);
  } else {
    dequantize_kernel<2><<<blocks_for(n), kThreads, 0, s>>>(q, n, scale_inv, out);
  }
  OCTET_CUDA_CHECK_LAUNCH();
}

void fp8_encode_bit_patterns(uint32_t first, int64_t count, Fp8Format format, bool saturate,
                             uint8_t* out, int device) {
  OCTET_CHECK(count >= 0 && uint64_t(first) + uint64_t(count) <= (uint64_t{1} << 32),
              "fp8_encode_bit_patterns", count, " patterns from ", first, " pass 2^32");
  if (count == 0) return;
  cudaStream_t s = stream_on(device);
  encode_patterns_kernel<<<blocks_for(count), kThreads, 0, s>>>(first, count, format, saturate,
                                                                out);
  OCTET_CUDA_CHECK_LAUNCH();
}

Fp8SweepResult fp8_compare_with_cuda(uint64_t first, uint64_t count, Fp8Format format,
                                     bool saturate, int device) {
  OCTET_CHECK(first + count <= (uint64_t{1} << 32), "fp8_compare_with_cuda", count,
              " patterns from ", first, " pass 2^32");
  Fp8SweepResult r;
  r.checked = count;
  if (count == 0) return r;
  cudaStream_t s = stream_on(device);
  unsigned long long host[2] = {0, ~0ull};
  auto* result = static_cast<unsigned long long*>(allocate(sizeof host, device));
  try {
    const Device dev{DeviceType::cuda, device}, cpu{};
    copy_bytes(result, dev, host, cpu, sizeof host);
    compare_kernel<<<blocks_for(static_cast<int64_t>(count)), kThreads, 0, s>>>(
        first, count, format, saturate, result);
    OCTET_CUDA_CHECK_LAUNCH();
    copy_bytes(host, cpu, result, dev, sizeof host);
  } catch (...) {
    release(result, device);
    throw;
  }
  release(result, device);
  r.mismatches = host[0];
  if (r.mismatches > 0) {
    r.first_mismatch = static_cast<uint32_t>(host[1] >> 16);
    r.ours = static_cast<uint8_t>(host[1] >> 8);
    r.theirs = static_cast<uint8_t>(host[1]);
  }
  return r;
}

}  // namespace octet::cuda
