// The FP8 codec against closed forms (every machine) and against CUDA's own conversions from
// <cuda_fp8.h>, which are host-callable and need no GPU: all 256 codes of both formats decode
// alike, and a fixed-seed mix of 1e6 floats (random bit patterns, values spread over each
// format's range, exact ties between neighbouring codes and their float neighbours, subnormals,
// values around the overflow threshold, infinities, NaNs) encodes to the same bytes in both
// saturation modes, through the scalar reference and the bulk kernel. The bulk kernels must also
// equal the scalar functions with a scale, at odd lengths and on the threaded path.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "framework/random.h"
#include "ops/error.h"
#include "ops/quant/fp8.h"

#if OCTET_HAVE_CUDA_FP8
#include <cuda_fp8.h>
#endif

namespace octet::quant {
namespace {

constexpr Fp8Format kFormats[] = {Fp8Format::kE4M3, Fp8Format::kE5M2};
constexpr float kInf = std::numeric_limits<float>::infinity();

const char* name_of(Fp8Format f) { return f == Fp8Format::kE4M3 ? "e4m3" : "e5m2"; }
uint32_t bits_of(float x) { return std::bit_cast<uint32_t>(x); }
float from_bits(uint32_t b) { return std::bit_cast<float>(b); }
float next_up(float x) { return std::nextafter(x, kInf); }
float next_down(float x) { return std::nextafter(x, -kInf); }

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", v);
  return buf;
}

// Finite codes in increasing magnitude: 0x00 .. max_code.
uint8_t max_code(Fp8Format f) { return f == Fp8Format::kE4M3 ? 0x7e : 0x7b; }
// The value one fp8 ulp above the max, were the exponent field wider: 480 or 65536.
float beyond_max(Fp8Format f) { return f == Fp8Format::kE4M3 ? 480.0f : 65536.0f; }

// Same value, or both NaN; zeros must agree in sign.
bool same_value(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return bits_of(a) == bits_of(b);
}

// Whether |x| lies exactly halfway between two neighbouring magnitudes of the format.
bool is_tie(float x, Fp8Format f) {
  const float a = std::abs(x);
  if (!(a > 0) || a > beyond_max(f)) return false;
  const uint32_t c = fp8_encode(a, f, false) & 0x7fu;
  auto value = [&](uint32_t k) {
    return k > max_code(f) ? beyond_max(f) : fp8_decode(static_cast<uint8_t>(k), f);
  };
  if (c > max_code(f)) return a == 0.5f * (value(max_code(f)) + beyond_max(f));
  return (c > 0 && a == 0.5f * (value(c - 1) + value(c))) || a == 0.5f * (value(c) + value(c + 1));
}

// The fixed-seed mix of floats that the CUDA comparison encodes.
std::vector<float> mixed_inputs(Fp8Format format, int64_t count, uint64_t seed) {
  Generator gen(seed);
  const int bias = format == Fp8Format::kE4M3 ? 7 : 15;
  const int mantissa_bits = format == Fp8Format::kE4M3 ? 3 : 2;
  const int lowest_exponent = 1 - bias - mantissa_bits;  // of the smallest subnormal
  const int highest_exponent = format == Fp8Format::kE4M3 ? 8 : 15;
  const float max = static_cast<float>(fp8_max(format));
  auto random_sign = [&](float v) { return gen.below(2) ? -v : v; };
  auto code_value = [&](uint32_t c) {
    return c > max_code(format) ? beyond_max(format) : fp8_decode(static_cast<uint8_t>(c), format);
  };
  std::vector<float> out;
  out.reserve(count);
  while (static_cast<int64_t>(out.size()) < count) {
    float v = 0;
    switch (gen.below(8)) {
      case 0:  // any bit pattern: NaN payloads, infinities, float subnormals, everything
        v = from_bits(static_cast<uint32_t>(gen.next_u64()));
        break;
      case 1: {  // random float bits with an exponent around the format's range
        const int e = lowest_exponent - 3 +
                      static_cast<int>(gen.below(highest_exponent - lowest_exponent + 7));
        v = random_sign(from_bits((static_cast<uint32_t>(e + 127) << 23) |
                                  static_cast<uint32_t>(gen.below(1u << 23))));
        break;
      }
      case 2:    // the exact midpoint of two neighbouring codes (incl. max and beyond)
      case 3: {  // ... or one of its float neighbours
        const uint32_t c = static_cast<uint32_t>(gen.below(max_code(format) + 1));
        const float mid = 0.5f * (code_value(c) + code_value(c + 1));
        const uint64_t pick = gen.below(3);
        v = random_sign(pick == 0 ? mid : pick == 1 ? next_down(mid) : next_up(mid));
        if (gen.below(4) == 0) v = mid;
        break;
      }
      case 4:  // subnormal range and below it
        v = random_sign(static_cast<float>(gen.uniform() * std::ldexp(1.0, 2 - bias)));
        break;
      case 5: {  // just above the max, around the overflow threshold
        const float threshold = 0.5f * (max + beyond_max(format));
        float t = gen.below(2) ? threshold : max;
        for (int k = static_cast<int>(gen.below(7)); k > 0; --k) t = next_up(t);
        for (int k = static_cast<int>(gen.below(3)); k > 0; --k) t = next_down(t);
        v = random_sign(gen.below(5) == 0 ? t * static_cast<float>(1.0 + gen.uniform()) : t);
        break;
      }
      case 6: {  // specials
        const float specials[] = {kInf,  std::numeric_limits<float>::quiet_NaN(),
                                  0.0f,  std::numeric_limits<float>::denorm_min(),
                                  1e38f, std::numeric_limits<float>::signaling_NaN()};
        v = random_sign(specials[gen.below(6)]);
        break;
      }
      default: {  // a code's own value, a few float ulps off
        const float exact = fp8_decode(static_cast<uint8_t>(gen.below(256)), format);
        v = from_bits(bits_of(exact) + static_cast<uint32_t>(gen.below(9)) - 4u);
        break;
      }
    }
    out.push_back(v);
  }
  return out;
}

TEST(Fp8Codec, ClosedFormE4M3) {
  const Fp8Format f = Fp8Format::kE4M3;
  for (bool sat : {true, false}) {
    EXPECT_EQ(fp8_encode(448.0f, f, sat), 0x7e);
    EXPECT_EQ(fp8_encode(-448.0f, f, sat), 0xfe);
    EXPECT_EQ(fp8_encode(464.0f, f, sat), 0x7e) << "464 ties to 448 (even mantissa)";
    EXPECT_EQ(fp8_encode(1.0f, f, sat), 0x38);
    EXPECT_EQ(fp8_encode(-2.0f, f, sat), 0xc0);
    EXPECT_EQ(fp8_encode(0.0f, f, sat), 0x00);
    EXPECT_EQ(fp8_encode(-0.0f, f, sat), 0x80);
    EXPECT_EQ(fp8_encode(0x1p-6f, f, sat), 0x08);  // smallest normal
    EXPECT_EQ(fp8_encode(0x1p-9f, f, sat), 0x01);  // smallest subnormal
    EXPECT_EQ(fp8_encode(0x1p-10f, f, sat), 0x00) << "half the smallest subnormal ties to 0";
    EXPECT_EQ(fp8_encode(-0x1p-10f, f, sat), 0x80);
    EXPECT_EQ(fp8_encode(next_up(0x1p-10f), f, sat), 0x01);
    EXPECT_EQ(fp8_encode(0x3p-10f, f, sat), 0x02) << "1.5 * 2^-9 ties to 2 * 2^-9";
    EXPECT_EQ(fp8_encode(1.0625f, f, sat), 0x38) << "1 + 1/16 ties down to 1";
    EXPECT_EQ(fp8_encode(1.1875f, f, sat), 0x3a) << "1 + 3/16 ties up to 1.25";
    EXPECT_EQ(fp8_encode(std::nanf(""), f, sat), 0x7f);
    EXPECT_EQ(fp8_encode(-std::nanf(""), f, sat), 0x7f);
  }
  EXPECT_EQ(fp8_encode(next_up(464.0f), f, true), 0x7e);
  EXPECT_EQ(fp8_encode(next_up(464.0f), f, false), 0x7f);
  EXPECT_EQ(fp8_encode(-500.0f, f, false), 0xff);
  EXPECT_EQ(fp8_encode(kInf, f, true), 0x7e);
  EXPECT_EQ(fp8_encode(-kInf, f, true), 0xfe);
  EXPECT_EQ(fp8_encode(kInf, f, false), 0x7f);
  EXPECT_EQ(fp8_encode(-kInf, f, false), 0xff);

  EXPECT_EQ(fp8_decode(0x7e, f), 448.0f);
  EXPECT_EQ(fp8_decode(0x01, f), 0x1p-9f);
  EXPECT_EQ(fp8_decode(0x07, f), 7 * 0x1p-9f);
  EXPECT_EQ(fp8_decode(0x08, f), 0x1p-6f);
  EXPECT_EQ(fp8_decode(0x38, f), 1.0f);
  EXPECT_TRUE(std::isnan(fp8_decode(0x7f, f)));
  EXPECT_TRUE(std::isnan(fp8_decode(0xff, f)));
  EXPECT_TRUE(std::signbit(fp8_decode(0x80, f)) && fp8_decode(0x80, f) == 0.0f);
  EXPECT_EQ(fp8_max(f), 448.0);
}

TEST(Fp8Codec, ClosedFormE5M2) {
  const Fp8Format f = Fp8Format::kE5M2;
  for (bool sat : {true, false}) {
    EXPECT_EQ(fp8_encode(57344.0f, f, sat), 0x7b);
    EXPECT_EQ(fp8_encode(next_down(61440.0f), f, sat), 0x7b);
    EXPECT_EQ(fp8_encode(1.0f, f, sat), 0x3c);
    EXPECT_EQ(fp8_encode(0x1p-14f, f, sat), 0x04);  // smallest normal
    EXPECT_EQ(fp8_encode(0x1p-16f, f, sat), 0x01);  // smallest subnormal
    EXPECT_EQ(fp8_encode(0x1p-17f, f, sat), 0x00);
    EXPECT_EQ(fp8_encode(-0x1p-17f, f, sat), 0x80);
    EXPECT_EQ(fp8_encode(1.125f, f, sat), 0x3c) << "1 + 1/8 ties down to 1";
    EXPECT_EQ(fp8_encode(1.375f, f, sat), 0x3e) << "1 + 3/8 ties up to 1.5";
    EXPECT_EQ(fp8_encode(std::nanf(""), f, sat), 0x7f);
  }
  EXPECT_EQ(fp8_encode(61440.0f, f, true), 0x7b);
  EXPECT_EQ(fp8_encode(61440.0f, f, false), 0x7c) << "61440 ties to infinity (even)";
  EXPECT_EQ(fp8_encode(-1e6f, f, false), 0xfc);
  EXPECT_EQ(fp8_encode(kInf, f, false), 0x7c);
  EXPECT_EQ(fp8_encode(-kInf, f, false), 0xfc);
  // Saturation is "satfinite", as in CUDA: infinities become the finite max too.
  EXPECT_EQ(fp8_encode(kInf, f, true), 0x7b);
  EXPECT_EQ(fp8_encode(-kInf, f, true), 0xfb);

  EXPECT_EQ(fp8_decode(0x7b, f), 57344.0f);
  EXPECT_EQ(fp8_decode(0x7c, f), kInf);
  EXPECT_EQ(fp8_decode(0xfc, f), -kInf);
  for (uint8_t nan : {0x7d, 0x7e, 0x7f, 0xfd, 0xfe, 0xff}) {
    EXPECT_TRUE(std::isnan(fp8_decode(nan, f))) << hex(nan);
  }
  EXPECT_EQ(fp8_decode(0x01, f), 0x1p-16f);
  EXPECT_EQ(fp8_decode(0x3c, f), 1.0f);
  EXPECT_EQ(fp8_max(f), 57344.0);
}

TEST(Fp8Codec, FormatOfSpec) {
  EXPECT_EQ(fp8_format_of(Format::kFp8E4M3), Fp8Format::kE4M3);
  EXPECT_EQ(fp8_format_of(Format::kFp8E5M2), Fp8Format::kE5M2);
  EXPECT_THROW(fp8_format_of(Format::kInt), Error);
}

// Every code's value, and every midpoint between neighbours (with its float neighbours), lands
// where round-to-nearest-even says, without any outside reference.
TEST(Fp8Codec, CodesRoundTripAndTiesGoToEven) {
  for (Fp8Format f : kFormats) {
    SCOPED_TRACE(name_of(f));
    const float* table = fp8_decode_table(f);
    for (int c = 0; c < 256; ++c) {
      const uint8_t code = static_cast<uint8_t>(c);
      ASSERT_TRUE(same_value(table[c], fp8_decode(code, f))) << hex(c);
      const float v = fp8_decode(code, f);
      if (std::isnan(v)) continue;
      EXPECT_EQ(fp8_encode(v, f, false), code) << hex(c);
      if (!std::isinf(v)) {
        EXPECT_EQ(fp8_encode(v, f, true), code) << hex(c);
      }
    }
    for (uint32_t c = 0; c < max_code(f); ++c) {
      const float lo = fp8_decode(static_cast<uint8_t>(c), f);
      const float hi = fp8_decode(static_cast<uint8_t>(c + 1), f);
      const float mid = 0.5f * (lo + hi);
      ASSERT_TRUE(lo < mid && mid < hi) << hex(c);
      const uint8_t even = (c & 1u) ? static_cast<uint8_t>(c + 1) : static_cast<uint8_t>(c);
      for (bool sat : {true, false}) {
        EXPECT_EQ(fp8_encode(mid, f, sat), even) << "tie above " << hex(c);
        EXPECT_EQ(fp8_encode(next_down(mid), f, sat), c) << "just below the tie above " << hex(c);
        EXPECT_EQ(fp8_encode(next_up(mid), f, sat), c + 1) << "just above the tie above " << hex(c);
        EXPECT_EQ(fp8_encode(-mid, f, sat), even | 0x80) << "tie below -" << hex(c);
      }
    }
  }
}

TEST(Fp8Codec, BulkKernelsEqualScalar) {
  for (Fp8Format f : kFormats) {
    // 200003 elements take the threaded path and end on a partial chunk.
    for (int64_t n :
         {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{33}, int64_t{1001}, int64_t{200003}}) {
      const std::vector<float> x = mixed_inputs(f, n, 7 + n);
      for (float scale : {1.0f, 3.7f, 1.0f / 3.0f, 0x1p-20f}) {
        for (bool sat : {true, false}) {
          SCOPED_TRACE(std::string(name_of(f)) + " n=" + std::to_string(n) + " scale=" +
                       std::to_string(scale) + (sat ? " saturating" : " non-saturating"));
          std::vector<uint8_t> q(n);
          fp8_quantize(x.data(), n, scale, f, sat, q.data());
          int64_t bad = 0;
          for (int64_t i = 0; i < n; ++i) {
            const uint8_t want = fp8_encode(x[i] * scale, f, sat);
            if (q[i] != want && bad++ < 5) {
              ADD_FAILURE() << "x=" << x[i] << " (" << hex(bits_of(x[i])) << ") bulk " << hex(q[i])
                            << " scalar " << hex(want);
            }
          }
          EXPECT_EQ(bad, 0);
          std::vector<float> y(n);
          const float scale_inv = 1.0f / scale;
          fp8_dequantize(q.data(), n, scale_inv, f, y.data());
          for (int64_t i = 0; i < n; ++i) {
            ASSERT_TRUE(same_value(y[i], fp8_decode(q[i], f) * scale_inv))
                << "code " << hex(q[i]) << " at " << i;
          }
        }
      }
    }
  }
}

#if OCTET_HAVE_CUDA_FP8

__nv_fp8_interpretation_t cuda_format(Fp8Format f) {
  return f == Fp8Format::kE4M3 ? __NV_E4M3 : __NV_E5M2;
}

float cuda_decode(uint8_t code, Fp8Format f) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(code, cuda_format(f))));
}

uint8_t cuda_encode(float x, Fp8Format f, bool saturate) {
  return __nv_cvt_float_to_fp8(x, saturate ? __NV_SATFINITE : __NV_NOSAT, cuda_format(f));
}

TEST(Fp8CodecVsCuda, AllCodesDecodeAlike) {
  for (Fp8Format f : kFormats) {
    for (int c = 0; c < 256; ++c) {
      const uint8_t code = static_cast<uint8_t>(c);
      EXPECT_TRUE(same_value(fp8_decode(code, f), cuda_decode(code, f)))
          << name_of(f) << " " << hex(c) << ": octet " << fp8_decode(code, f) << " cuda "
          << cuda_decode(code, f);
    }
  }
}

TEST(Fp8CodecVsCuda, MillionFloatsEncodeAlike) {
  constexpr int64_t kCount = 1000000;
  for (Fp8Format f : kFormats) {
    const std::vector<float> x = mixed_inputs(f, kCount, 20240613);
    for (bool sat : {true, false}) {
      SCOPED_TRACE(std::string(name_of(f)) + (sat ? " saturating" : " non-saturating"));
      std::vector<uint8_t> bulk(kCount);
      fp8_quantize(x.data(), kCount, 1.0f, f, sat, bulk.data());
      int64_t bad = 0, ties = 0, overflows = 0, nans = 0;
      for (int64_t i = 0; i < kCount; ++i) {
        const uint8_t want = cuda_encode(x[i], f, sat);
        const uint8_t got = fp8_encode(x[i], f, sat);
        if ((got != want || bulk[i] != want) && bad++ < 5) {
          ADD_FAILURE() << "x=" << x[i] << " (" << hex(bits_of(x[i])) << ") octet " << hex(got)
                        << " bulk " << hex(bulk[i]) << " cuda " << hex(want);
        }
        nans += std::isnan(x[i]);
        overflows += !std::isnan(x[i]) && std::abs(x[i]) > static_cast<float>(fp8_max(f));
        ties += is_tie(x[i], f);
      }
      EXPECT_EQ(bad, 0) << "of " << kCount;
      std::printf(
          "[fp8 vs cuda] %s %s: %lld floats (%lld exact ties, %lld beyond max, %lld NaN), "
          "%lld differ\n",
          name_of(f), sat ? "sat" : "nosat", static_cast<long long>(kCount),
          static_cast<long long>(ties), static_cast<long long>(overflows),
          static_cast<long long>(nans), static_cast<long long>(bad));
      // The mix must really hold the hard cases it claims to.
      EXPECT_GT(ties, kCount / 50);
      EXPECT_GT(overflows, kCount / 50);
      EXPECT_GT(nans, kCount / 100);
    }
  }
}

#else

TEST(Fp8CodecVsCuda, AllCodesDecodeAlike) {
  GTEST_SKIP() << "built without <cuda_fp8.h> (no CUDA toolkit found by CMake)";
}
TEST(Fp8CodecVsCuda, MillionFloatsEncodeAlike) {
  GTEST_SKIP() << "built without <cuda_fp8.h> (no CUDA toolkit found by CMake)";
}

#endif

}  // namespace
}  // namespace octet::quant
