#pragma once
// Real quantization to stored codes and back on a CUDA device: the twins of ops/quant/quantize.h
// (same arguments, device pointers, plus the device), bit-identical to the CPU's codes and
// floats; and of quant::quantize_rows_int8 (ops/quant/qgemm.h), the per-row int8 quantization of
// activations for int8 GEMMs.
#include <cstdint>

#include "ops/quant/fp8.h"
#include "ops/quant/quant_spec.h"

namespace octet::cuda {

// q = clamp(nearbyint(x * (1/s)) + zp, qmin, qmax) as Code (int8_t or uint8_t); NaN -> qmin.
template <typename Code>
void quantize_int(const float* x, int64_t n, const quant::ScaleLayout& layout, const float* scale,
                  const float* zero_point, int64_t qmin, int64_t qmax, Code* out, int device);

// x' = (q - zp) * s.
template <typename Code>
void dequantize_int(const Code* q, int64_t n, const quant::ScaleLayout& layout, const float* scale,
                    const float* zero_point, int64_t qmin, int64_t qmax, float* out, int device);

// q = encode(x * s); x' = decode(q) * (1/s), a scale per layout run.
void quantize_fp8(const float* x, int64_t n, const quant::ScaleLayout& layout, const float* scale,
                  quant::Fp8Format format, bool saturate, uint8_t* out, int device);
void dequantize_fp8(const uint8_t* q, int64_t n, const quant::ScaleLayout& layout,
                    const float* scale, quant::Fp8Format format, float* out, int device);

// From bf16 activations (the raw 16-bit patterns of DType::bf16) under one static per-tensor scale
// s (device f32 [1]): int8 q = clamp(nearbyint(x * (1/s)), qmin, qmax) and FP8 q = encode(x * s),
// exactly quantize_int / quantize_fp8 of the same values held as f32 (bf16 -> f32 is exact). One
// pass: 16-byte loads of 8 values per thread when x is 16-byte and out 8-byte aligned.
void quantize_bf16_int8(const uint16_t* x, int64_t n, const float* scale, int64_t qmin,
                        int64_t qmax, int8_t* out, int device);
void quantize_bf16_fp8(const uint16_t* x, int64_t n, const float* scale, quant::Fp8Format format,
                       bool saturate, uint8_t* out, int device);

// Per-row symmetric int8 (narrow range, current scaling) of x [m, k] with row stride ldx: each
// row's max |x| is reduced on the device, the m values come to the host for the CPU's own scale
// rule (int_qparams, which throws on a non-finite row, naming quantize_rows_int8), the scales go
// back, and the codes are computed on the device. codes [m, k] contiguous and scales [m] on
// `device`. Synchronises with the device once (to read the row maxima).
void quantize_rows_int8(const float* x, int64_t m, int64_t k, int64_t ldx, int8_t* codes,
                        float* scales, int device);

}  // namespace octet::cuda
