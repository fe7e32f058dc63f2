#pragma once
// The FP8 codec: bit-exact encode (round-to-nearest-even, subnormals, saturating or following the
// format's overflow rule) and decode for E4M3FN and E5M2, and bulk kernels that quantize a float
// tensor to fp8 bytes with a scale and back. The scalar functions are the reference; the bulk
// kernels must give the same bytes for every input.
//
// E4M3FN: 1 sign, 4 exponent (bias 7), 3 mantissa bits; max 448; S.1111.111 is NaN; no infinity.
// E5M2:   1 sign, 5 exponent (bias 15), 2 mantissa bits; max 57344; infinities; NaNs.
#include <cstdint>

#include "ops/quant/quant_spec.h"

namespace octet::quant {

enum class Fp8Format : uint8_t { kE4M3, kE5M2 };

// kFp8E4M3 / kFp8E5M2 of a QuantSpec; throws for integer formats.
Fp8Format fp8_format_of(Format format);
double fp8_max(Fp8Format format);  // 448 or 57344

// saturate = true ("satfinite", as CUDA and Transformer Engine): values beyond the max and
// infinities, in both formats, become +-max. saturate = false: E4M3 overflow and +-inf -> NaN
// (0x7f / 0xff), E5M2 overflow -> +-infinity. Any NaN in -> the NaN code 0x7f (CUDA drops its
// sign). Rounding to nearest, ties to even, decides overflow: a value that rounds to the max is
// the max (E4M3: |x| <= 464 -> 448; E5M2: |x| < 61440 -> 57344), bit-identical to
// __nv_cvt_float_to_fp8 for every float.
uint8_t fp8_encode(float x, Fp8Format format, bool saturate);
float fp8_decode(uint8_t code, Fp8Format format);

// The 256 decoded values of a format, as float (for table-driven decoding in GEMM prologues).
const float* fp8_decode_table(Fp8Format format);

// out[i] = fp8_encode(x[i] * scale); threaded and vectorised.
void fp8_quantize(const float* x, int64_t n, float scale, Fp8Format format, bool saturate,
                  uint8_t* out);
// out[i] = fp8_decode(q[i]) * scale_inv.
void fp8_dequantize(const uint8_t* q, int64_t n, float scale_inv, Fp8Format format, float* out);

}  // namespace octet::quant
