// The CUDA quantization kernels against their CPU twins (ops/quant/): FP8 bytes
// over all 2^32 floats against CUDA's own conversion and on samples against the
// CPU codec; fake-quant codes, outputs and masks bit for bit for every
// granularity (ties at .5, values past the clamp, NaN); LSQ sums within 1e-6;
// real quantization, range statistics and LLM.int8() column bookkeeping
// exactly; and the qat fake-quant autograd ops on the GPU against the CPU,
// forward and backward.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "framework/functional/arithmetic.h"
#include "framework/tensor/tensor.h"
#include "ops/cuda/fake_quant.h"
#include "ops/cuda/fp8.h"
#include "ops/cuda/outliers.h"
#include "ops/cuda/quantize.h"
#include "ops/cuda/range.h"
#include "ops/quant/dynamic_scales.h"
#include "ops/quant/fake_quant.h"
#include "ops/quant/fp8.h"
#include "ops/quant/outliers.h"
#include "ops/quant/qgemm.h"
#include "ops/quant/quantize.h"
#include "ops/quant/range.h"
#include "ops/quant/scale_rules.h"
#include "qat/fake_quant.h"
#include "tests/support/gpu_util.h"

namespace octet {
namespace {

using quant::Fp8Format;
using quant::QuantSpec;
using quant::ScaleLayout;
using testing::gpu0;

template <typename T>
Tensor to_gpu(const std::vector<T>& v) {
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}).cuda();
}
template <typename T>
T* dptr(const Tensor& t) {
  return static_cast<T*>(t.view().data);
}
template <typename T>
std::vector<T> from_gpu(const Tensor& t) {
  return t.to_vector<T>();
}

// Bit-for-bit equality, reporting the first difference. Codes (integers, FP8 bytes) must match in
// every bit; a float NaN need only be a NaN on both sides: IEEE 754 leaves the sign and payload of
// a NaN that arithmetic produces to the hardware (x86 makes 0xffc00000, CUDA 0x7fffffff).
template <typename T>
void expect_same_bits(const std::vector<T>& a, const std::vector<T>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    }
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) {
      ADD_FAILURE() << what << ": element " << i << " differs: " << +a[i] << " vs " << +b[i];
      return;
    }
  }
}

// Values that exercise the rounding and the clamp for scale s: exact ties k +
// 0.5 (both parities), values far beyond qmax, zeros of both signs, a NaN, and
// random values.
template <typename T>
std::vector<T> hard_values(int64_t n, T s, uint64_t seed) {
  Generator gen(seed);
  const std::vector<float> r = (Tensor::randn({n}, gen) * 90).to_vector<float>();
  std::vector<T> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (i % 8) {
      case 0:
        v[i] = (T(i % 300) - T(150) + T(0.5)) * s;
        break;  // ties at .5
      case 1:
        v[i] = T(1e4) * s * (i % 2 ? 1 : -1);
        break;  // far past the clamp
      case 2:
        v[i] = i % 16 == 2 ? T(-0.0) : T(0);
        break;
      case 3:
        v[i] = i == 3 ? std::numeric_limits<T>::quiet_NaN() : T(r[i]) * s;
        break;
      default:
        v[i] = T(r[i]) * s;
    }
  }
  return v;
}

std::vector<QuantSpec> int_specs_for_3d() {
  std::vector<QuantSpec> specs;
  for (QuantSpec base : {QuantSpec::int8_symmetric(), QuantSpec::int8_affine(),
                         QuantSpec::uint8_affine(), QuantSpec::int4_symmetric()}) {
    specs.push_back(base);
    specs.push_back(base.per_channel(0));
    specs.push_back(base.per_channel(2));
    specs.push_back(base.per_token());
    specs.push_back(base.per_group(8));
  }
  return specs;
}

const std::vector<int64_t> kShape{6, 5, 32};

TEST(CudaQuant, Fp8EncoderMatchesCudaOnAllFloats) {
  OCTET_REQUIRE_GPU();
  for (Fp8Format f : {Fp8Format::kE4M3, Fp8Format::kE5M2}) {
    for (bool sat : {true, false}) {
      const cuda::Fp8SweepResult r = cuda::fp8_compare_with_cuda(0, uint64_t{1} << 32, f, sat, 0);
      EXPECT_EQ(r.checked, uint64_t{1} << 32);
      EXPECT_EQ(r.mismatches, 0u) << "format " << int(f) << " saturate " << sat << ": first 0x"
                                  << std::hex << r.first_mismatch << " ours " << +r.ours << " cuda "
                                  << +r.theirs;
    }
  }
}

TEST(CudaQuant, Fp8EncoderAndDecoderMatchTheCpuCodec) {
  OCTET_REQUIRE_GPU();
  // Windows of 2^20 patterns around every interesting place (zeros, subnormals,
  // the overflow thresholds, infinities and NaNs, both signs) plus a coarse
  // stride through all of them.
  const std::vector<uint32_t> starts = {0x00000000u, 0x3a000000u, 0x3b800000u, 0x43e00000u,
                                        0x47600000u, 0x7f700000u, 0x7ff00000u, 0x80000000u,
                                        0xbb800000u, 0xc3e00000u, 0xc7600000u, 0xfff00000u};
  const int64_t window = int64_t{1} << 20;
  for (Fp8Format f : {Fp8Format::kE4M3, Fp8Format::kE5M2}) {
    for (bool sat : {true, false}) {
      for (uint32_t first : starts) {
        Tensor out = Tensor::empty({window}, DType::u8, gpu0());
        cuda::fp8_encode_bit_patterns(first, window, f, sat, dptr<uint8_t>(out), 0);
        const std::vector<uint8_t> got = from_gpu<uint8_t>(out);
        std::vector<uint8_t> want(got.size());
        for (int64_t i = 0; i < window; ++i)
          want[i] = quant::fp8_encode(std::bit_cast<float>(first + uint32_t(i)), f, sat);
        expect_same_bits(got, want, "fp8 encode window");
      }
    }
    // Every code decodes to the CPU table's float, bit for bit.
    std::vector<uint8_t> codes(256);
    for (int c = 0; c < 256; ++c) codes[c] = uint8_t(c);
    Tensor q = to_gpu(codes);
    Tensor out = Tensor::empty({256}, DType::f32, gpu0());
    cuda::fp8_dequantize(dptr<uint8_t>(q), 256, 1.0f, f, dptr<float>(out), 0);
    const float* table = quant::fp8_decode_table(f);
    expect_same_bits(from_gpu<float>(out), std::vector<float>(table, table + 256), "fp8 decode");
  }
}

TEST(CudaQuant, Fp8BulkQuantizeAndDequantizeMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  const std::vector<float> x = hard_values<float>(10007, 0.37f, 3);
  Tensor xd = to_gpu(x);
  for (Fp8Format f : {Fp8Format::kE4M3, Fp8Format::kE5M2}) {
    for (bool sat : {true, false}) {
      const float scale = f == Fp8Format::kE4M3 ? 1.7f : 900.0f;
      std::vector<uint8_t> want(x.size());
      quant::fp8_quantize(x.data(), int64_t(x.size()), scale, f, sat, want.data());
      Tensor q = Tensor::empty({int64_t(x.size())}, DType::u8, gpu0());
      cuda::fp8_quantize(dptr<float>(xd), int64_t(x.size()), scale, f, sat, dptr<uint8_t>(q), 0);
      expect_same_bits(from_gpu<uint8_t>(q), want, "fp8_quantize");
      std::vector<float> back(x.size());
      quant::fp8_dequantize(want.data(), int64_t(x.size()), 1.0f / scale, f, back.data());
      Tensor bd = Tensor::empty({int64_t(x.size())}, DType::f32, gpu0());
      cuda::fp8_dequantize(dptr<uint8_t>(q), int64_t(x.size()), 1.0f / scale, f, dptr<float>(bd),
                           0);
      expect_same_bits(from_gpu<float>(bd), back, "fp8_dequantize");
    }
  }
}

// Scales (and zero points) for a layout: varied, some ugly (1/s inexact), from
// a fixed seed.
std::vector<float> some_scales(int64_t count, float base) {
  std::vector<float> s(static_cast<size_t>(count));
  for (int64_t c = 0; c < count; ++c) s[c] = base * (1.0f + 0.173f * float(c % 7)) / 3.0f;
  return s;
}
std::vector<float> some_zero_points(int64_t count, const QuantSpec& spec) {
  std::vector<float> z(static_cast<size_t>(count));
  for (int64_t c = 0; c < count; ++c)
    z[c] = spec.symmetric ? 0.0f : float(spec.qmin + (c * 37) % (spec.qmax - spec.qmin)) + 0.5f;
  return z;
}

template <typename T>
void check_fake_quant_int(const QuantSpec& spec) {
  SCOPED_TRACE(spec.str());
  const ScaleLayout layout = quant::scale_layout(spec, kShape);
  const int64_t n = 6 * 5 * 32;
  const std::vector<float> s32 = some_scales(layout.count, 0.05f);
  const std::vector<float> z32 = some_zero_points(layout.count, spec);
  const std::vector<T> s(s32.begin(), s32.end()), z(z32.begin(), z32.end());
  const std::vector<T> x = hard_values<T>(n, T(s32[0]), 11);
  const T* zp = spec.symmetric ? nullptr : z.data();
  std::vector<T> y(n);
  std::vector<uint8_t> mask(n);
  quant::fake_quant_int(x.data(), n, layout, s.data(), zp, spec.qmin, spec.qmax, y.data(),
                        mask.data());
  Tensor xd = to_gpu(x), sd = to_gpu(s), zd = to_gpu(z);
  Tensor yd = Tensor::empty({n}, dtype_of<T>(), gpu0());
  Tensor md = Tensor::empty({n}, DType::u8, gpu0());
  cuda::fake_quant_int(dptr<T>(xd), n, layout, dptr<T>(sd), spec.symmetric ? nullptr : dptr<T>(zd),
                       spec.qmin, spec.qmax, dptr<T>(yd), dptr<uint8_t>(md), 0);
  expect_same_bits(from_gpu<T>(yd), y, "fake_quant_int y");
  expect_same_bits(from_gpu<uint8_t>(md), mask, "fake_quant_int mask");

  // LSQ backward: dx exactly, the per-scale sums within 1e-6 relative.
  Generator gen(5);
  const std::vector<float> g32 = Tensor::randn({n}, gen).to_vector<float>();
  const std::vector<T> dy(g32.begin(), g32.end());
  std::vector<T> dx(n), ds(layout.count), dz(layout.count);
  const double factor = qat::lsq_grad_factor(n, spec.qmax);
  quant::lsq_backward(x.data(), dy.data(), n, layout, s.data(), zp, spec.qmin, spec.qmax, factor,
                      dx.data(), ds.data(), dz.data());
  Tensor dyd = to_gpu(dy);
  Tensor dxd = Tensor::empty({n}, dtype_of<T>(), gpu0());
  Tensor dsd = Tensor::empty({layout.count}, dtype_of<T>(), gpu0());
  Tensor dzd = Tensor::empty({layout.count}, dtype_of<T>(), gpu0());
  cuda::lsq_backward(dptr<T>(xd), dptr<T>(dyd), n, layout, dptr<T>(sd),
                     spec.symmetric ? nullptr : dptr<T>(zd), spec.qmin, spec.qmax, factor,
                     dptr<T>(dxd), dptr<T>(dsd), dptr<T>(dzd), 0);
  expect_same_bits(from_gpu<T>(dxd), dx, "lsq dx");
  const std::vector<T> ds_got = from_gpu<T>(dsd), dz_got = from_gpu<T>(dzd);
  for (int64_t c = 0; c < layout.count; ++c) {
    EXPECT_NEAR(double(ds_got[c]), double(ds[c]), 1e-6 * std::max(1.0, std::abs(double(ds[c]))));
    EXPECT_NEAR(double(dz_got[c]), double(dz[c]), 1e-6 * std::max(1.0, std::abs(double(dz[c]))));
  }
}

// The STE mask's backward runs four elements per thread where the pointers allow it and one by
// one otherwise (misaligned starts, the last n % 4): every length and offset gives mask ? dy : 0.
TEST(CudaQuant, SteMaskAtEveryLengthAndOffset) {
  OCTET_REQUIRE_GPU();
  Generator gen(12);
  const int64_t total = 4111;
  std::vector<float> dy = Tensor::randn({total}, gen).to_vector<float>();
  std::vector<uint8_t> mask(total);
  for (auto& m : mask) m = gen.uniform() < 0.7 ? 1 : 0;
  Tensor dyd = to_gpu(dy), md = to_gpu(mask);
  for (int64_t start : {0, 1, 2, 3, 4, 5}) {
    for (int64_t len : {1, 3, 4, 7, 8, 64, 4096}) {
      Tensor dxd = Tensor::full({total}, 99.0, DType::f32, gpu0());  // poisoned output
      cuda::apply_ste_mask(dptr<float>(dyd) + start, dptr<uint8_t>(md) + start, len,
                           dptr<float>(dxd) + start, 0);
      std::vector<float> want(total, 99.0f);
      for (int64_t i = start; i < start + len; ++i) want[i] = mask[i] ? dy[i] : 0.0f;
      expect_same_bits(from_gpu<float>(dxd), want, "ste mask");
    }
  }
}

TEST(CudaQuant, FakeQuantIntAndLsqMatchTheCpuForEveryGranularity) {
  OCTET_REQUIRE_GPU();
  for (const QuantSpec& spec : int_specs_for_3d()) {
    check_fake_quant_int<float>(spec);
    check_fake_quant_int<double>(spec);
  }
}

TEST(CudaQuant, FakeQuantFp8AndCurrentScalingMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  const int64_t n = 6 * 5 * 32;
  for (QuantSpec base : {QuantSpec::fp8_e4m3(), QuantSpec::fp8_e5m2()}) {
    for (bool sat : {true, false}) {
      base.saturate = sat;
      for (const QuantSpec& spec : {base, base.per_channel(0), base.per_token()}) {
        SCOPED_TRACE(spec.str());
        const ScaleLayout layout = quant::scale_layout(spec, kShape);
        const Fp8Format f = quant::fp8_format_of(spec.format);
        std::vector<float> x = hard_values<float>(n, 3.0f, 17);
        const std::vector<float> s = some_scales(layout.count, 60.0f);
        std::vector<float> y(n);
        std::vector<uint8_t> mask(n);
        quant::fake_quant_fp8(x.data(), n, layout, s.data(), f, sat, y.data(), mask.data());
        Tensor xd = to_gpu(x), sd = to_gpu(s);
        Tensor yd = Tensor::empty({n}, DType::f32, gpu0());
        Tensor md = Tensor::empty({n}, DType::u8, gpu0());
        cuda::fake_quant_fp8(dptr<float>(xd), n, layout, dptr<float>(sd), f, sat, dptr<float>(yd),
                             dptr<uint8_t>(md), 0);
        expect_same_bits(from_gpu<float>(yd), y, "fake_quant_fp8 y");
        expect_same_bits(from_gpu<uint8_t>(md), mask, "fake_quant_fp8 mask");

        // Current scaling: CPU current_scales then fake_quant_fp8, against the
        // fused device path. (No NaN here: a NaN amax keeps scale 1 on both
        // sides, tested with the rule below.)
        x[3] = 1.0f;
        std::vector<float> cs(layout.count);
        quant::current_scales(spec, x.data(), n, layout, cs.data(), nullptr, "test");
        quant::fake_quant_fp8(x.data(), n, layout, cs.data(), f, sat, y.data(), mask.data());
        Tensor xd2 = to_gpu(x);
        Tensor csd = Tensor::empty({layout.count}, DType::f32, gpu0());
        cuda::fake_quant_fp8_current(dptr<float>(xd2), n, layout, f, sat, dptr<float>(csd),
                                     dptr<float>(yd), dptr<uint8_t>(md), 0);
        expect_same_bits(from_gpu<float>(csd), cs, "current scales");
        expect_same_bits(from_gpu<float>(yd), y, "current fake_quant_fp8 y");
        expect_same_bits(from_gpu<uint8_t>(md), mask, "current fake_quant_fp8 mask");
      }
    }
  }
}

TEST(CudaQuant, DeviceFp8ScaleRuleEqualsTheCpuRule) {
  OCTET_REQUIRE_GPU();
  // Random bit patterns (all signs, subnormals, inf, NaN) and a sweep of
  // ordinary magnitudes.
  std::vector<float> amax;
  uint32_t state = 12345;
  for (int i = 0; i < 200000; ++i) {
    state = state * 1664525u + 1013904223u;
    amax.push_back(std::bit_cast<float>(state));
  }
  for (float a = 1e-30f; a < 1e30f; a *= 1.01f) amax.push_back(a);
  for (float special :
       {0.0f, -0.0f, std::numeric_limits<float>::infinity(),
        std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min(), 1e-38f})
    amax.push_back(special);
  Tensor ad = to_gpu(amax);
  for (const QuantSpec& spec : {QuantSpec::fp8_e4m3(), QuantSpec::fp8_e5m2()}) {
    for (int margin : {0, 1, 3}) {
      std::vector<float> want(amax.size());
      for (size_t i = 0; i < amax.size(); ++i)
        want[i] = quant::fp8_scale(spec, amax[i], 0.75f, margin);
      Tensor sd = Tensor::empty({int64_t(amax.size())}, DType::f32, gpu0());
      cuda::fp8_scales_from_amax(dptr<float>(ad), int64_t(amax.size()),
                                 quant::fp8_format_of(spec.format), 0.75f, margin, dptr<float>(sd),
                                 0);
      expect_same_bits(from_gpu<float>(sd), want, "fp8_scale");
    }
  }
}

TEST(CudaQuant, RangeStatisticsMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  const int64_t n = 6 * 5 * 32;
  for (const QuantSpec& spec : int_specs_for_3d()) {
    SCOPED_TRACE(spec.str());
    const ScaleLayout layout = quant::scale_layout(spec, kShape);
    std::vector<float> x = hard_values<float>(n, 0.1f, 23);
    x[100] = -std::numeric_limits<float>::infinity();
    std::vector<float> lo(layout.count), hi(layout.count), amax(layout.count);
    quant::min_max(x.data(), n, layout, lo.data(), hi.data());
    quant::abs_max(x.data(), n, layout, amax.data());
    Tensor xd = to_gpu(x);
    Tensor lod = Tensor::empty({layout.count}, DType::f32, gpu0());
    Tensor hid = Tensor::empty({layout.count}, DType::f32, gpu0());
    Tensor ad = Tensor::empty({layout.count}, DType::f32, gpu0());
    cuda::min_max(dptr<float>(xd), n, layout, dptr<float>(lod), dptr<float>(hid), 0);
    cuda::abs_max(dptr<float>(xd), n, layout, dptr<float>(ad), 0);
    // Equal as values (a zero's sign may differ, see ops/cuda/range.h), NaN
    // where the CPU has it.
    auto same = [](const std::vector<float>& got, const std::vector<float>& want, const char* w) {
      for (size_t c = 0; c < want.size(); ++c) {
        if (std::isnan(want[c])) {
          EXPECT_TRUE(std::isnan(got[c])) << w << " " << c;
        } else {
          EXPECT_EQ(got[c], want[c]) << w << " " << c;
        }
      }
    };
    same(from_gpu<float>(lod), lo, "min");
    same(from_gpu<float>(hid), hi, "max");
    same(from_gpu<float>(ad), amax, "amax");
  }
}

TEST(CudaQuant, QuantizeAndDequantizeMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  const int64_t n = 6 * 5 * 32;
  for (const QuantSpec& spec : int_specs_for_3d()) {
    SCOPED_TRACE(spec.str());
    const ScaleLayout layout = quant::scale_layout(spec, kShape);
    const std::vector<float> s = some_scales(layout.count, 0.05f);
    const std::vector<float> z = some_zero_points(layout.count, spec);
    const std::vector<float> x = hard_values<float>(n, s[0], 29);
    Tensor xd = to_gpu(x), sd = to_gpu(s), zd = to_gpu(z);
    const float* zp = spec.symmetric ? nullptr : z.data();
    const float* zpd = spec.symmetric ? nullptr : dptr<float>(zd);
    auto run = [&](auto code) {
      using Code = decltype(code);
      std::vector<Code> q(n);
      std::vector<float> back(n);
      quant::quantize_int<Code>(x.data(), n, layout, s.data(), zp, spec.qmin, spec.qmax, q.data());
      quant::dequantize_int<Code>(q.data(), n, layout, s.data(), zp, spec.qmin, spec.qmax,
                                  back.data());
      Tensor qd = Tensor::empty({n}, dtype_of<Code>(), gpu0());
      Tensor bd = Tensor::empty({n}, DType::f32, gpu0());
      cuda::quantize_int<Code>(dptr<float>(xd), n, layout, dptr<float>(sd), zpd, spec.qmin,
                               spec.qmax, dptr<Code>(qd), 0);
      cuda::dequantize_int<Code>(dptr<Code>(qd), n, layout, dptr<float>(sd), zpd, spec.qmin,
                                 spec.qmax, dptr<float>(bd), 0);
      expect_same_bits(from_gpu<Code>(qd), q, "quantize_int");
      expect_same_bits(from_gpu<float>(bd), back, "dequantize_int");
    };
    if (spec.qmin >= 0) {
      run(uint8_t{});
    } else {
      run(int8_t{});
    }
  }
  for (const QuantSpec& spec : {QuantSpec::fp8_e4m3().per_token(), QuantSpec::fp8_e5m2()}) {
    const ScaleLayout layout = quant::scale_layout(spec, kShape);
    const Fp8Format f = quant::fp8_format_of(spec.format);
    const std::vector<float> s = some_scales(layout.count, 30.0f);
    const std::vector<float> x = hard_values<float>(n, 2.0f, 31);
    std::vector<uint8_t> q(n);
    std::vector<float> back(n);
    quant::quantize_fp8(x.data(), n, layout, s.data(), f, true, q.data());
    quant::dequantize_fp8(q.data(), n, layout, s.data(), f, back.data());
    Tensor xd = to_gpu(x), sd = to_gpu(s);
    Tensor qd = Tensor::empty({n}, DType::u8, gpu0());
    Tensor bd = Tensor::empty({n}, DType::f32, gpu0());
    cuda::quantize_fp8(dptr<float>(xd), n, layout, dptr<float>(sd), f, true, dptr<uint8_t>(qd), 0);
    cuda::dequantize_fp8(dptr<uint8_t>(qd), n, layout, dptr<float>(sd), f, dptr<float>(bd), 0);
    expect_same_bits(from_gpu<uint8_t>(qd), q, "quantize_fp8");
    expect_same_bits(from_gpu<float>(bd), back, "dequantize_fp8");
  }
}

TEST(CudaQuant, QuantizeRowsInt8MatchesTheCpu) {
  OCTET_REQUIRE_GPU();
  const int64_t m = 37, k = 300, ldx = 320;
  Generator gen(7);
  std::vector<float> x = (Tensor::randn({m * ldx}, gen) * 4).to_vector<float>();
  for (int64_t j = 0; j < k; ++j) x[5 * ldx + j] = 0.0f;  // an all-zero row: the scale floor
  x[9 * ldx + 3] = 127.0f;  // a row whose max sits exactly on qmax: scale 1
  std::vector<int8_t> codes(m * k);
  std::vector<float> scales(m);
  quant::quantize_rows_int8(x.data(), m, k, ldx, codes.data(), scales.data());
  Tensor xd = to_gpu(x);
  Tensor cd = Tensor::empty({m * k}, DType::i8, gpu0());
  Tensor sd = Tensor::empty({m}, DType::f32, gpu0());
  cuda::quantize_rows_int8(dptr<float>(xd), m, k, ldx, dptr<int8_t>(cd), dptr<float>(sd), 0);
  expect_same_bits(from_gpu<float>(sd), scales, "row scales");
  expect_same_bits(from_gpu<int8_t>(cd), codes, "row codes");
  // A NaN row throws, as on the CPU.
  x[2 * ldx + 1] = std::numeric_limits<float>::quiet_NaN();
  Tensor bad = to_gpu(x);
  EXPECT_THROW(
      cuda::quantize_rows_int8(dptr<float>(bad), m, k, ldx, dptr<int8_t>(cd), dptr<float>(sd), 0),
      Error);
}

TEST(CudaQuant, OutlierColumnsMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  const int64_t rows = 700, cols = 96;
  Generator gen(9);
  // Unit normals: among 700 x 96 of them none comes near the threshold 6 (a 6-sigma event).
  std::vector<float> x = Tensor::randn({rows * cols}, gen).to_vector<float>();
  for (int64_t r = 0; r < rows; r += 50) x[r * cols + 7] = 9.0f;  // an outlier column
  x[400 * cols + 60] = -12.0f;
  x[3 * cols + 11] = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> amax(cols);
  quant::column_abs_max(x.data(), rows, cols, amax.data());
  Tensor xd = to_gpu(x);
  Tensor ad = Tensor::empty({cols}, DType::f32, gpu0());
  cuda::column_abs_max(dptr<float>(xd), rows, cols, dptr<float>(ad), 0);
  expect_same_bits(from_gpu<float>(ad), amax, "column_abs_max");

  const std::vector<int64_t> cols_out = quant::columns_above(amax.data(), cols, 6.0f);
  ASSERT_EQ(cols_out, (std::vector<int64_t>{7, 60}));
  const std::vector<int64_t> rest = quant::complement_columns(cols_out, cols);
  const int64_t k = int64_t(cols_out.size()), kr = int64_t(rest.size());
  std::vector<float> g(rows * k), gr(rows * kr);
  quant::gather_columns(x.data(), rows, cols, cols_out.data(), k, g.data());
  quant::gather_columns(x.data(), rows, cols, rest.data(), kr, gr.data());
  Tensor gd = Tensor::empty({rows * k}, DType::f32, gpu0());
  Tensor grd = Tensor::empty({rows * kr}, DType::f32, gpu0());
  cuda::gather_columns(dptr<float>(xd), rows, cols, cols_out.data(), k, dptr<float>(gd), 0);
  cuda::gather_complement_columns(dptr<float>(xd), rows, cols, cols_out, dptr<float>(grd), 0);
  expect_same_bits(from_gpu<float>(gd), g, "gather_columns");
  expect_same_bits(from_gpu<float>(grd), gr, "gather_complement_columns");

  std::vector<float> merged(rows * cols, 0.5f);
  quant::scatter_add_columns(g.data(), rows, k, cols_out.data(), cols, merged.data());
  quant::scatter_add_columns(gr.data(), rows, kr, rest.data(), cols, merged.data());
  Tensor md = to_gpu(std::vector<float>(rows * cols, 0.5f));
  cuda::scatter_add_columns(dptr<float>(gd), rows, k, cols_out.data(), cols, dptr<float>(md), 0);
  cuda::scatter_add_columns(dptr<float>(grd), rows, kr, rest.data(), cols, dptr<float>(md), 0);
  expect_same_bits(from_gpu<float>(md), merged, "scatter_add_columns");
  // Bad column lists are refused before any launch.
  const std::vector<int64_t> unsorted{9, 3};
  EXPECT_THROW(
      cuda::gather_columns(dptr<float>(xd), rows, cols, unsorted.data(), 2, dptr<float>(gd), 0),
      Error);
}

TEST(CudaQuant, FakeQuantAutogradOpsOnTheGpuMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(13);
  const Tensor x0 = Tensor::randn({6, 5, 32}, gen) * 3;
  const Tensor up = Tensor::randn({6, 5, 32}, gen);
  for (const QuantSpec& spec :
       {QuantSpec::int8_symmetric().per_channel(0), QuantSpec::uint8_affine().per_token(),
        QuantSpec::fp8_e4m3(), QuantSpec::int8_affine().per_group(8)}) {
    SCOPED_TRACE(spec.str());
    const ScaleLayout layout = quant::scale_layout(spec, x0.shape());
    const Shape sshape = layout.scale_shape.empty() ? Shape{1} : layout.scale_shape;
    const std::vector<float> s = some_scales(layout.count, spec.is_fp8() ? 40.0f : 0.08f);
    qat::QParams p{Tensor::from_vector(s, sshape), Tensor()};
    if (!spec.is_fp8() && !spec.symmetric)
      p.zero_point = Tensor::from_vector(some_zero_points(layout.count, spec), sshape);
    qat::QParams pd{p.scale.cuda(), p.zero_point.defined() ? p.zero_point.cuda() : Tensor()};

    Tensor xc = x0.clone().set_requires_grad(true);
    Tensor xg = x0.cuda().detach().set_requires_grad(true);
    Tensor yc = qat::fake_quant(xc, spec, p);
    Tensor yg = qat::fake_quant(xg, spec, pd);
    EXPECT_EQ(yg.device(), gpu0());
    expect_same_bits(yg.to_vector<float>(), yc.to_vector<float>(), "fake_quant forward");
    sum(yc * up).backward();
    sum(yg * up.cuda()).backward();
    expect_same_bits(xg.grad().to_vector<float>(), xc.grad().to_vector<float>(),
                     "fake_quant backward");

    if (spec.is_fp8()) continue;
    Tensor sc = p.scale.clone().set_requires_grad(true);
    Tensor sg = p.scale.cuda().detach().set_requires_grad(true);
    Tensor zc, zg;
    if (!spec.symmetric) {
      zc = p.zero_point.clone().set_requires_grad(true);
      zg = p.zero_point.cuda().detach().set_requires_grad(true);
    }
    Tensor xc2 = x0.clone().set_requires_grad(true);
    Tensor xg2 = x0.cuda().detach().set_requires_grad(true);
    const double factor = qat::lsq_grad_factor(x0.numel(), spec.qmax);
    Tensor lc = qat::fake_quant_lsq(xc2, spec, sc, zc, factor);
    Tensor lg = qat::fake_quant_lsq(xg2, spec, sg, zg, factor);
    expect_same_bits(lg.to_vector<float>(), lc.to_vector<float>(), "lsq forward");
    sum(lc * up).backward();
    sum(lg * up.cuda()).backward();
    expect_same_bits(xg2.grad().to_vector<float>(), xc2.grad().to_vector<float>(), "lsq dx");
    EXPECT_LT(testing::max_abs_diff(sg.grad(), sc.grad()), 1e-6);
    if (zc.defined()) {
      EXPECT_LT(testing::max_abs_diff(zg.grad(), zc.grad()), 1e-6);
    }
  }
}

}  // namespace
}  // namespace octet
