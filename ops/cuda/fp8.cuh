#pragma once
// The FP8 codec on the device: the same rules, and the same bytes for every float, as the CPU
// codec (ops/quant/fp8.h). encode is the CPU bulk kernel's branch-free encoder written with CUDA's
// bit casts; decode rebuilds the float exactly as the CPU's decode table does. Both formats,
// saturating ("satfinite") or following the format's overflow rule; any NaN in -> 0x7f.
#include <cstdint>

#include "ops/quant/fp8.h"

namespace octet::cuda::fp8 {

constexpr uint32_t kF32Inf = 0x7f800000u;
constexpr uint32_t kF32AbsMask = 0x7fffffffu;
constexpr uint32_t kNanCode = 0x7f;

// Per format: mantissa bits, exponent bias, the largest finite code, the non-saturating overflow
// code (E4M3: NaN 0x7f, E5M2: infinity 0x7c), and the first |x| float pattern that overflows
// (E4M3: the float after 464, which still ties to 448; E5M2: 61440, which ties to infinity).
template <int kMantissaBits>
struct Layout;
template <>
struct Layout<3> {
  static constexpr int kBias = 7;
  static constexpr uint32_t kMaxCode = 0x7e, kNonSatOverflow = 0x7f, kOverflowBits = 0x43e80001u;
};
template <>
struct Layout<2> {
  static constexpr int kBias = 15;
  static constexpr uint32_t kMaxCode = 0x7b, kNonSatOverflow = 0x7c, kOverflowBits = 0x47700000u;
};

__host__ __device__ constexpr uint32_t pow2_bits(int e) {
  return static_cast<uint32_t>(e + 127) << 23;
}

// Normal results round the float bits to nearest-even at the fp8 mantissa width (a carry moves to
// the next binade) and rebias; subnormal results let the FPU's round-to-nearest-even place the
// code in the low bits of |x| + 2^k (a normal float sum: flush-to-zero cannot touch it).
// __fadd_rn keeps the addition a plain IEEE add whatever the compiler's contraction settings.
template <int kMantissaBits>
__device__ __forceinline__ uint8_t encode(float x, bool saturate) {
  using L = Layout<kMantissaBits>;
  constexpr int kDropped = 23 - kMantissaBits;
  constexpr uint32_t kMinNormalBits = pow2_bits(1 - L::kBias);
  constexpr uint32_t kRebias = static_cast<uint32_t>(127 - L::kBias) << kMantissaBits;
  constexpr uint32_t kMagicBits = pow2_bits(23 - kMantissaBits - L::kBias + 1);

  const uint32_t bits = __float_as_uint(x);
  const uint32_t abs = bits & kF32AbsMask;
  const uint32_t sign = (bits >> 24) & 0x80u;
  const uint32_t rounded = abs + ((1u << (kDropped - 1)) - 1) + ((abs >> kDropped) & 1u);
  const uint32_t normal = (rounded >> kDropped) - kRebias;
  const uint32_t subnormal =
      __float_as_uint(__fadd_rn(__uint_as_float(abs), __uint_as_float(kMagicBits))) - kMagicBits;
  uint32_t code = abs < kMinNormalBits ? subnormal : normal;
  code = abs >= L::kOverflowBits ? (saturate ? L::kMaxCode : L::kNonSatOverflow) : code;
  code |= sign;
  code = abs > kF32Inf ? kNanCode : code;
  return static_cast<uint8_t>(code);
}

// The float value of a code, bit for bit the CPU decode table's entry.
template <int kMantissaBits>
__device__ __forceinline__ float decode(uint8_t code) {
  using L = Layout<kMantissaBits>;
  constexpr uint32_t kMantissaMask = (1u << kMantissaBits) - 1;
  constexpr uint32_t kExponentMax = 0x7fu >> kMantissaBits;
  const uint32_t sign = (static_cast<uint32_t>(code) & 0x80u) << 24;
  const uint32_t exponent = (code & 0x7fu) >> kMantissaBits;
  const uint32_t mantissa = code & kMantissaMask;
  uint32_t bits;
  if (exponent == 0) {
    // mantissa units of the smallest subnormal 2^(1 - bias - m): exact in float.
    bits = __float_as_uint(__fmul_rn(static_cast<float>(mantissa),
                                     __uint_as_float(pow2_bits(1 - L::kBias - kMantissaBits))));
  } else if (exponent == kExponentMax && (kMantissaBits == 3 ? mantissa == kMantissaMask : true)) {
    bits = (kMantissaBits == 2 && mantissa == 0) ? kF32Inf : 0x7fc00000u;
  } else {
    bits = ((exponent + 127u - L::kBias) << 23) | (mantissa << (23 - kMantissaBits));
  }
  return __uint_as_float(bits | sign);
}

// Run-time format dispatch for kernels that take the format as an argument.
__device__ __forceinline__ uint8_t encode(float x, quant::Fp8Format format, bool saturate) {
  return format == quant::Fp8Format::kE4M3 ? encode<3>(x, saturate) : encode<2>(x, saturate);
}
__device__ __forceinline__ float decode(uint8_t code, quant::Fp8Format format) {
  return format == quant::Fp8Format::kE4M3 ? decode<3>(code) : decode<2>(code);
}

}  // namespace octet::cuda::fp8
