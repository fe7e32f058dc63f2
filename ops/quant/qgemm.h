#pragma once
// The deployed runtime's quantized GEMMs: what a fake-quant Linear computes in f32,
// y = fq(x) @ fq(W)^T + b, computed from stored integer / FP8 codes instead. Integer products are
// summed exactly in int32 and scaled once in an f32 epilogue, so the only difference from the
// fake-quant model is the order of f32 summation.
//
// Exactness on CPUs without VNNI (AVX2, AVX-512 before Cascade Lake): oneDNN's int8 GEMMs multiply
// with VPMADDUBSW, which adds two u8*s8 products into a SATURATING int16 (255*127*2 > 32767), and
// its s8s8 path shifts one operand by +128 into u8 first, so both saturate for ordinary codes.
// Measured on the development machine (AMD EPYC Zen 3, AVX2, oneDNN 2.6 gemm:jit), s8s8 and u8s8
// matmuls disagree with an int32 loop on half the outputs of random full-range codes. octet's
// int8 kernel therefore widens codes to int16 and multiplies with VPMADDWD (int16 pairs into
// int32), which is exact for every int8/uint8 code at the same instruction rate (16 MACs per
// multiply uop); see qgemm_kernel.h.
#include <cstdint>
#include <memory>
#include <vector>

#include "ops/quant/fp8.h"

namespace octet::quant {

namespace detail {
struct PackedInt8Weight;
}

// Int8 weights [n, k] (out_features x in_features, row-major codes), symmetric (zero point 0),
// with 1 (per tensor) or n (per output channel) f32 scales. Prepared once at model load: codes
// are reordered into the kernel's panel layout (any int8 code, -128 included, is exact), and
// per-row code sums are kept for activation zero-point compensation. Copies share the immutable
// prepared state, so copying is cheap and concurrent use from several threads is safe.
// k is limited to 65536 so that every int32 accumulator (|a - zp| <= 255, |w| <= 128) is exact.
class Int8Weight {
 public:
  Int8Weight() = default;
  Int8Weight(const int8_t* codes, int64_t n, int64_t k, std::vector<float> scales);
  int64_t n() const;
  int64_t k() const;
  const std::vector<float>& scales() const;
  size_t resident_bytes() const;  // memory it holds
  bool defined() const { return state_ != nullptr; }
  const detail::PackedInt8Weight& packed() const;

 private:
  std::shared_ptr<const detail::PackedInt8Weight> state_;
};

// Quantized activations [m, k], row-major with leading dimension ld (elements).
struct Int8Activations {
  const void* codes = nullptr;
  bool is_unsigned = false;  // u8 codes (uint8 affine specs) or s8
  int64_t m = 0, k = 0, ld = 0;
  const float* scales = nullptr;  // scale_count = 1 (per tensor) or m (per token)
  int64_t scale_count = 1;
  int32_t zero_point = 0;  // per tensor; compensated as zp * rowsum(W)
};

// y[i, j] = a_scale(i) * w_scale(j) * sum_k (a[i,k] - zp) * w[j,k] + bias[j]   (bias may be null)
// Exact int32 accumulation; y is f32 row-major with leading dimension ldy (>= n). The epilogue
// computes float(acc) * (a_scale(i) * w_scale(j)) + bias[j].
void int8_gemm(const Int8Activations& a, const Int8Weight& w, const float* bias, float* y,
               int64_t ldy);

// Dynamic per-token quantization: each row of x [m, k] (leading dim ldx) to int8 symmetric narrow
// [-127,127] with its own scale, bit-identical to fake-quant with
// QuantSpec::int8_symmetric().per_token().with_source(ScaleSource::kCurrent): the scale of each
// row from current_scales (dynamic_scales.h, fake-quant's own rule), codes from quantize_int.
// codes: [m, k] contiguous; scales: [m]. A non-finite row throws.
void quantize_rows_int8(const float* x, int64_t m, int64_t k, int64_t ldx, int8_t* codes,
                        float* scales);

// FP8 weights [n, k]: E4M3 or E5M2 bit patterns, with 1 or n scales s in QuantSpec's convention
// (x' = decode(q) * (1/s)). Decoded once through a 256-entry table into bf16 (exact: every
// E4M3/E5M2 value is a bf16), because CPUs without FP8 units emulate FP8 anyway; on CPUs without
// bf16 GEMMs (AVX2) fp8_gemm widens blocks of rows to f32 (exact again) for oneDNN's sgemm.
class Fp8Weight {
 public:
  Fp8Weight() = default;
  Fp8Weight(const uint8_t* codes, Fp8Format format, int64_t n, int64_t k,
            std::vector<float> scales);
  int64_t n() const;
  int64_t k() const;
  size_t resident_bytes() const;
  Fp8Format format() const;
  const std::vector<float>& scales() const;
  const uint16_t* bf16() const;  // [n, k] row-major

 private:
  friend void fp8_gemm(const uint8_t*, Fp8Format, int64_t, int64_t, int64_t, float,
                       const Fp8Weight&, const float*, float*, int64_t);
  struct State;
  std::shared_ptr<const State> state_;
};

// FP8 activations [m, k] (codes, per-tensor scale s_a): decoded via the table, GEMM with f32
// accumulation, epilogue y = acc * (1/s_a) * (1/s_w(j)) + bias[j].
void fp8_gemm(const uint8_t* a_codes, Fp8Format a_format, int64_t m, int64_t k, int64_t lda,
              float a_scale, const Fp8Weight& w, const float* bias, float* y, int64_t ldy);

// Weight-only int8: y = x @ (codes * scale)^T + bias, x f32. Holds no f32 copy of the whole
// weight (that would defeat weight-only): blocks of rows are dequantized into a scratch buffer,
// each block multiplied by oneDNN's sgemm.
void weight_only_int8_gemm(const float* x, int64_t m, int64_t k, int64_t ldx, const Int8Weight& w,
                           const float* bias, float* y, int64_t ldy);

// LLM.int8(): regular columns through int8 (per-token dynamic quantization over the regular
// columns only, per-output-channel weight scales), outlier columns in f32, summed (+ bias): what
// qat::LlmInt8Linear's forward computes, to f32 rounding.
class LlmInt8Weight {
 public:
  LlmInt8Weight() = default;
  // outlier_columns: ascending indices into [0, k); outlier_weight: f32 [n, outlier_count];
  // regular: int8 weights [n, k - outlier_count] over the other columns in ascending order.
  LlmInt8Weight(std::vector<int64_t> outlier_columns, const float* outlier_weight,
                Int8Weight regular);
  int64_t n() const;
  int64_t k() const;
  size_t resident_bytes() const;
  const std::vector<int64_t>& outlier_columns() const;

 private:
  friend void llm_int8_gemm(const float*, int64_t, int64_t, int64_t, const LlmInt8Weight&,
                            const float*, float*, int64_t);
  struct State;
  std::shared_ptr<const State> state_;
};

void llm_int8_gemm(const float* x, int64_t m, int64_t k, int64_t ldx, const LlmInt8Weight& w,
                   const float* bias, float* y, int64_t ldy);

}  // namespace octet::quant
