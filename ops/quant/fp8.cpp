#include "ops/quant/fp8.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <limits>

#include "ops/error.h"

// Two implementations of the same encoder on purpose. fp8_encode is the reference: it rounds the
// exact float significand to the fp8 quantum of its binade with explicit branches, so it reads
// like the definition. The bulk kernel gets the same bytes branch-free (float bits in uint32
// lanes, every case computed and selected by masks) so that GCC vectorises it; the tests check
// the two against each other and both against CUDA's conversions.
//
// Overflow and special values follow CUDA's __nv_cvt_float_to_fp8 (and so the satfinite
// conversions of sm_89+ hardware and of Transformer Engine):
// - E4M3: |x| > 464 overflows. 464 is the tie between 448 (mantissa 110, even) and the NaN code
//   S.1111.111 (odd), so ties-to-even already keeps it at 448; anything above rounds to NaN.
// - E5M2: |x| >= 61440 overflows. 61440 is the tie between 57344 (mantissa 11, odd) and
//   infinity (even), so ties-to-even sends it to infinity.
// - saturate: overflow and infinities become +-max (for both formats: "satfinite").
//   non-saturating: E4M3 -> NaN with the sign (0x7f / 0xff), E5M2 -> +-infinity (0x7c / 0xfc).
// - any NaN becomes the positive code 0x7f in both formats (CUDA drops the sign of a NaN).
// - magnitudes at or below half the smallest subnormal round to a zero that keeps the sign.

namespace octet::quant {
namespace {

struct Fp8Layout {
  int mantissa_bits;
  int bias;
  uint8_t max_code;              // the largest finite magnitude: 0x7e (448) or 0x7b (57344)
  uint8_t nonsat_overflow_code;  // 0x7f (NaN) or 0x7c (infinity)
  uint32_t overflow_bits;        // |x| as float bits at or above this overflows
};

constexpr uint32_t kF32Inf = 0x7f800000u;
constexpr uint32_t kF32AbsMask = 0x7fffffffu;
constexpr uint8_t kNanCode = 0x7f;

// 464 = 0x43e80000 still rounds to 448, so the first overflowing pattern is the next float up.
constexpr Fp8Layout kE4M3{3, 7, 0x7e, 0x7f, 0x43e80001u};
// 61440 = 0x47700000 ties to infinity.
constexpr Fp8Layout kE5M2{2, 15, 0x7b, 0x7c, 0x47700000u};

constexpr const Fp8Layout& layout_of(Fp8Format format) {
  return format == Fp8Format::kE4M3 ? kE4M3 : kE5M2;
}

uint8_t overflow_code(const Fp8Layout& f, bool saturate) {
  return saturate ? f.max_code : f.nonsat_overflow_code;
}

// Float bits of 2^e for a normal float exponent e.
constexpr uint32_t pow2_bits(int e) { return static_cast<uint32_t>(e + 127) << 23; }

std::array<float, 256> build_decode_table(const Fp8Layout& f) {
  std::array<float, 256> table{};
  const int m = f.mantissa_bits;
  const uint32_t mantissa_mask = (1u << m) - 1;
  const uint32_t exponent_max = 0x7fu >> m;
  // A subnormal code's mantissa counts units of the smallest subnormal, 2^(1 - bias - m).
  const float subnormal_unit = std::bit_cast<float>(pow2_bits(1 - f.bias - m));
  const bool is_e4m3 = f.mantissa_bits == kE4M3.mantissa_bits;
  for (uint32_t code = 0; code < 256; ++code) {
    const uint32_t sign = (code & 0x80u) << 24;
    const uint32_t exponent = (code & 0x7fu) >> m;
    const uint32_t mantissa = code & mantissa_mask;
    uint32_t bits;
    if (exponent == 0) {
      bits = std::bit_cast<uint32_t>(static_cast<float>(mantissa) * subnormal_unit);
    } else if (exponent == exponent_max && (is_e4m3 ? mantissa == mantissa_mask : true)) {
      // E4M3FN: only S.1111.111 is NaN. E5M2: S.11111.00 is infinity, the rest NaN.
      bits = (!is_e4m3 && mantissa == 0) ? kF32Inf : 0x7fc00000u;
    } else {
      bits = ((exponent + 127u - f.bias) << 23) | (mantissa << (23 - m));
    }
    table[code] = std::bit_cast<float>(bits | sign);
  }
  return table;
}

const std::array<float, 256>& decode_table(Fp8Format format) {
  static const std::array<float, 256> e4m3 = build_decode_table(kE4M3);
  static const std::array<float, 256> e5m2 = build_decode_table(kE5M2);
  return format == Fp8Format::kE4M3 ? e4m3 : e5m2;
}

// The branch-free encoder of the bulk kernel. Normal results: adding half an fp8 ulp minus one,
// plus the kept mantissa's lowest bit, to the float bits rounds the dropped bits to nearest-even
// and carries into the exponent when the mantissa overflows; rebiasing the exponent then gives
// the code. Subnormal results: adding 2^k, whose float ulp is the smallest fp8 subnormal, lets
// the FPU's own round-to-nearest-even leave the subnormal code in the low bits of the sum (the
// sum is a normal float, so flush-to-zero modes cannot change it; a float subnormal input read
// as zero under DAZ encodes to zero, as it would anyway).
template <int kMantissaBits, int kBias>
inline uint8_t encode_branch_free(float x, uint32_t overflow_bits, uint32_t overflow_code) {
  constexpr int kDropped = 23 - kMantissaBits;
  constexpr uint32_t kMinNormalBits = pow2_bits(1 - kBias);
  constexpr uint32_t kRebias = static_cast<uint32_t>(127 - kBias) << kMantissaBits;
  constexpr uint32_t kSubnormalMagicBits = pow2_bits(23 - kMantissaBits - kBias + 1);
  const float subnormal_magic = std::bit_cast<float>(kSubnormalMagicBits);

  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint32_t abs = bits & kF32AbsMask;
  const uint32_t sign = (bits >> 24) & 0x80u;

  const uint32_t rounded = abs + ((1u << (kDropped - 1)) - 1) + ((abs >> kDropped) & 1u);
  const uint32_t normal = (rounded >> kDropped) - kRebias;
  const uint32_t subnormal =
      std::bit_cast<uint32_t>(std::bit_cast<float>(abs) + subnormal_magic) - kSubnormalMagicBits;

  uint32_t code = abs < kMinNormalBits ? subnormal : normal;
  code = abs >= overflow_bits ? overflow_code : code;
  code |= sign;
  code = abs > kF32Inf ? uint32_t{kNanCode} : code;
  return static_cast<uint8_t>(code);
}

template <int kMantissaBits, int kBias>
void quantize_range(const float* x, int64_t n, float scale, uint32_t overflow_bits,
                    uint32_t overflow_code, uint8_t* out) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = encode_branch_free<kMantissaBits, kBias>(x[i] * scale, overflow_bits, overflow_code);
  }
}

void dequantize_range(const uint8_t* q, int64_t n, float scale_inv, const float* table,
                      float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = table[q[i]] * scale_inv;
}

// Below this many elements a parallel region costs more than the work; the chunk keeps each
// thread's inner loop long enough to run at vector speed.
constexpr int64_t kParallelThreshold = int64_t{1} << 16;
constexpr int64_t kChunk = int64_t{1} << 14;

}  // namespace

Fp8Format fp8_format_of(Format format) {
  OCTET_CHECK(format != Format::kInt, "fp8", "an integer format has no FP8 encoding");
  return format == Format::kFp8E4M3 ? Fp8Format::kE4M3 : Fp8Format::kE5M2;
}

double fp8_max(Fp8Format format) { return format == Fp8Format::kE4M3 ? 448.0 : 57344.0; }

uint8_t fp8_encode(float x, Fp8Format format, bool saturate) {
  const Fp8Layout& f = layout_of(format);
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint32_t abs = bits & kF32AbsMask;
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80u);
  if (abs > kF32Inf) return kNanCode;
  if (abs == kF32Inf) return overflow_code(f, saturate) | sign;
  const int float_exponent = static_cast<int>(abs >> 23);
  // Float subnormals (< 2^-126) lie far below half of either format's smallest subnormal.
  if (float_exponent == 0) return sign;

  // |x| = significand * 2^(float_exponent - 150) exactly. The fp8 quantum in |x|'s binade is
  // 2^(binade - m), where the binade never goes below the subnormal one, 1 - bias.
  const uint32_t significand = (abs & 0x7fffffu) | 0x800000u;
  const int binade = std::max(float_exponent - 127, 1 - f.bias);
  const int quantum_exponent = binade - f.mantissa_bits;
  const int dropped = quantum_exponent - (float_exponent - 150);
  // dropped >= 25 leaves a value below half a quantum: it rounds to zero.
  if (dropped >= 25) return sign;
  uint32_t units = significand >> dropped;
  const uint32_t rest = significand & ((1u << dropped) - 1);
  const uint32_t half = 1u << (dropped - 1);
  if (rest > half || (rest == half && (units & 1u))) ++units;

  // units counts quanta: 2^m + mantissa in a normal binade (2^(m+1) after a carry, which lands
  // on the next binade's code), the mantissa itself in the subnormal one.
  const uint32_t code = (static_cast<uint32_t>(binade + f.bias - 1) << f.mantissa_bits) + units;
  if (code > f.max_code) return overflow_code(f, saturate) | sign;
  return static_cast<uint8_t>(code) | sign;
}

float fp8_decode(uint8_t code, Fp8Format format) { return decode_table(format)[code]; }

const float* fp8_decode_table(Fp8Format format) { return decode_table(format).data(); }

void fp8_quantize(const float* x, int64_t n, float scale, Fp8Format format, bool saturate,
                  uint8_t* out) {
  OCTET_CHECK(n >= 0, "fp8_quantize", "negative length ", n);
  const Fp8Layout& f = layout_of(format);
  const uint32_t overflow = overflow_code(f, saturate);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n >= kParallelThreshold)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kChunk;
    const int64_t len = std::min(kChunk, n - begin);
    if (format == Fp8Format::kE4M3) {
      quantize_range<3, 7>(x + begin, len, scale, f.overflow_bits, overflow, out + begin);
    } else {
      quantize_range<2, 15>(x + begin, len, scale, f.overflow_bits, overflow, out + begin);
    }
  }
}

void fp8_dequantize(const uint8_t* q, int64_t n, float scale_inv, Fp8Format format, float* out) {
  OCTET_CHECK(n >= 0, "fp8_dequantize", "negative length ", n);
  const float* table = fp8_decode_table(format);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n >= kParallelThreshold)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kChunk;
    dequantize_range(q + begin, std::min(kChunk, n - begin), scale_inv, table, out + begin);
  }
}

}  // namespace octet::quant
