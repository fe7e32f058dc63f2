// f32 -> bf16 rounding (ops/dtype.h), which autocast applies to every GEMM operand: round to
// nearest even, overflow to infinity, NaN kept NaN (quiet, sign and top payload bits kept). Checked
// on every sign/exponent/top-mantissa pattern with the low halves that decide rounding (ties,
// just below and above them), against a reference that rounds by comparing distances to the two
// bf16 neighbours, and against CUDA's own host-callable conversion where the toolkit is present.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/cpu/copy.h"
#include "ops/dtype.h"
#include "ops/view.h"

#if OCTET_HAVE_CUDA_FP8
#include <cuda_bf16.h>
#endif

namespace octet {
namespace {

// The value of bf16 bits as a double, with the pattern past the largest finite value (infinity)
// read as 2^128, where an unbounded exponent would put it: rounding overflows to infinity exactly
// when that neighbour is the nearer.
double bf16_value_unbounded(uint16_t bits) {
  if ((bits & 0x7fffu) == 0x7f80u)
    return (bits & 0x8000u) ? -std::ldexp(1.0, 128) : std::ldexp(1.0, 128);
  return static_cast<double>(bf16_to_f32(bits));
}

uint16_t reference_bf16(uint32_t u) {
  const float f = std::bit_cast<float>(u);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x40u);
  const auto lo = static_cast<uint16_t>(u >> 16);
  if ((u & 0xffffu) == 0) return lo;              // exactly a bf16 (infinities included)
  const auto hi = static_cast<uint16_t>(lo + 1);  // next away from zero, same sign
  const double x = f, dlo = std::abs(x - bf16_value_unbounded(lo)),
               dhi = std::abs(bf16_value_unbounded(hi) - x);
  if (dlo != dhi) return dlo < dhi ? lo : hi;
  return (lo & 1u) ? hi : lo;  // a tie goes to the even pattern
}

std::vector<uint32_t> deciding_patterns() {
  std::vector<uint32_t> all;
  const uint32_t lows[] = {0x0000u, 0x0001u, 0x3fffu, 0x7fffu, 0x8000u,
                           0x8001u, 0xbfffu, 0xfffeu, 0xffffu};
  for (uint32_t high = 0; high <= 0xffffu; ++high)
    for (uint32_t low : lows) all.push_back(high << 16 | low);
  return all;
}

TEST(Bf16Conversion, RoundsToNearestEvenOverflowsToInfinityAndKeepsNaN) {
  int64_t mismatches = 0;
  for (uint32_t u : deciding_patterns()) {
    const uint16_t got = f32_to_bf16(std::bit_cast<float>(u)), want = reference_bf16(u);
    if (got != want && ++mismatches <= 10)
      ADD_FAILURE() << std::hex << "f32 0x" << u << ": got 0x" << got << ", want 0x" << want;
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(f32_to_bf16(3.4e38f), 0x7f80u);  // past max + half an ulp: infinity
  EXPECT_EQ(f32_to_bf16(-3.4e38f), 0xff80u);
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80u);  // 1 + 2^-8, a tie: to even (1.0)
  EXPECT_EQ(f32_to_bf16(1.01171875f), 0x3f82u);  // 1 + 3 * 2^-8, a tie: to even (up)
}

// copy() casts dense and strided rows alike: both give the scalar conversion's bits, NaN included.
TEST(Bf16Conversion, CopyCastsDenseAndStridedRowsLikeTheScalarConversion) {
  const std::vector<uint32_t> patterns = deciding_patterns();
  const auto n = static_cast<int64_t>(patterns.size());
  std::vector<float> src(patterns.size());
  for (size_t i = 0; i < patterns.size(); ++i) src[i] = std::bit_cast<float>(patterns[i]);
  std::vector<uint16_t> dense(src.size()), strided(src.size() / 2);
  cpu::copy(View{src.data(), DType::f32, {}, {n}, {1}},
            View{dense.data(), DType::bf16, {}, {n}, {1}});
  cpu::copy(View{src.data(), DType::f32, {}, {n / 2}, {2}},
            View{strided.data(), DType::bf16, {}, {n / 2}, {1}});
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(dense[i], f32_to_bf16(src[i])) << "element " << i;
  for (int64_t i = 0; i < n / 2; ++i)
    ASSERT_EQ(strided[i], f32_to_bf16(src[2 * i])) << "element " << 2 * i;
  std::vector<float> back(src.size());
  cpu::copy(View{dense.data(), DType::bf16, {}, {n}, {1}},
            View{back.data(), DType::f32, {}, {n}, {1}});
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>(back[i]), static_cast<uint32_t>(dense[i]) << 16);
}

#if OCTET_HAVE_CUDA_FP8
TEST(Bf16Conversion, MatchesCudasConversionExceptForNaNPayloads) {
  for (uint32_t u : deciding_patterns()) {
    const float f = std::bit_cast<float>(u);
    const __nv_bfloat16_raw cuda = __float2bfloat16_rn(f);
    const uint16_t got = f32_to_bf16(f);
    if (std::isnan(f)) {
      // CUDA returns its canonical NaN; octet keeps the payload. Both must be NaN.
      ASSERT_TRUE(std::isnan(bf16_to_f32(got)) && std::isnan(bf16_to_f32(cuda.x)));
      continue;
    }
    ASSERT_EQ(got, cuda.x) << std::hex << "f32 0x" << u;
  }
}
#endif

}  // namespace
}  // namespace octet
