#pragma once
// Real quantization to stored codes and back, for export and the runtime. The arithmetic is the
// fake-quant kernels' (fake_quant.h), so dequantize(quantize(x)) equals fake_quant(x) bit for bit:
// what the fake-quant model trained on is what the deployed codes hold.
#include <cstdint>

#include "ops/quant/fp8.h"
#include "ops/quant/quant_spec.h"

namespace octet::quant {

// Integer codes: q = clamp(nearbyint(x * (1/s)) + zp, qmin, qmax), stored as Code (int8_t for
// signed ranges, uint8_t for unsigned ones). zero_point may be null (0).
template <typename Code>
void quantize_int(const float* x, int64_t n, const ScaleLayout& layout, const float* scale,
                  const float* zero_point, int64_t qmin, int64_t qmax, Code* out);

// x' = (q - zp) * s, with the zero point taken as quantize_int takes it.
template <typename Code>
void dequantize_int(const Code* q, int64_t n, const ScaleLayout& layout, const float* scale,
                    const float* zero_point, int64_t qmin, int64_t qmax, float* out);

// FP8 codes with a scale per layout run: q = encode(x * s); x' = decode(q) * (1/s).
void quantize_fp8(const float* x, int64_t n, const ScaleLayout& layout, const float* scale,
                  Fp8Format format, bool saturate, uint8_t* out);
void dequantize_fp8(const uint8_t* q, int64_t n, const ScaleLayout& layout, const float* scale,
                    Fp8Format format, float* out);

}  // namespace octet::quant
