#pragma once
// The FP8 codec's bulk kernels on a CUDA device: the twins of ops/quant/fp8.h's fp8_quantize and
// fp8_dequantize (same arguments, device pointers, plus the device they live on), giving the same
// bytes and floats as the CPU for every input. Also test support: the encoder applied to a range
// of float bit patterns, and the same range checked against CUDA's own __nv_cvt_float_to_fp8, so
// a test can sweep all 2^32 floats on the GPU.
#include <cstdint>

#include "ops/quant/fp8.h"

namespace octet::cuda {

// out[i] = fp8_encode(x[i] * scale).
void fp8_quantize(const float* x, int64_t n, float scale, quant::Fp8Format format, bool saturate,
                  uint8_t* out, int device);
// out[i] = fp8_decode(q[i]) * scale_inv.
void fp8_dequantize(const uint8_t* q, int64_t n, float scale_inv, quant::Fp8Format format,
                    float* out, int device);

// out[i] = fp8_encode(float with bits first + i), for i < count (count <= 2^32 - first).
void fp8_encode_bit_patterns(uint32_t first, int64_t count, quant::Fp8Format format, bool saturate,
                             uint8_t* out, int device);

// Encodes the float bit patterns [first, first + count) with octet's device encoder and with
// __nv_cvt_float_to_fp8 (__NV_SATFINITE when saturate, else __NV_NOSAT) and counts differences.
struct Fp8SweepResult {
  uint64_t checked = 0;
  uint64_t mismatches = 0;
  uint32_t first_mismatch = 0;   // the lowest differing float bit pattern (when mismatches > 0)
  uint8_t ours = 0, theirs = 0;  // the two codes of first_mismatch
};
Fp8SweepResult fp8_compare_with_cuda(uint64_t first, uint64_t count, quant::Fp8Format format,
                                     bool saturate, int device);

}  // namespace octet::cuda
