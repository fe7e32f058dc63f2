// The runtime's quantized GEMMs (ops/quant/qgemm.h): the int8 accumulator against an int64 loop
// for random and adversarial codes on every kernel this CPU runs, the epilogue, agreement with
// the fake-quant model (fq(x) @ fq(W)^T in f32), dynamic per-token quantization bit for bit,
// FP8, weight-only and LLM.int8() against their references, and errors that name the problem.
#include "ops/quant/qgemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "framework/nn/layers.h"
#include "framework/random.h"
#include "framework/tensor/tensor.h"
#include "ops/cpu/gemm.h"
#include "ops/quant/fake_quant.h"
#include "ops/quant/qgemm_kernel.h"
#include "ops/quant/quantize.h"
#include "ops/quant/range.h"
#include "ops/quant/scale_rules.h"
#include "qat/llm_int8.h"
#include "qat/prepare.h"
#include "tests/support/error_matchers.h"

namespace octet {
namespace {

using quant::Int8Activations;
using quant::Int8Weight;
using quant::QuantSpec;
using testing::throws_naming;

double relative_error(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
    den += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(num / den);
}

std::vector<float> randn(int64_t n, Generator& gen, double scale = 1.0) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(gen.normal() * scale);
  return v;
}

// y [m, n] = x [m, k] @ w [n, k]^T (+ bias) through octet's f32 GEMM.
std::vector<float> f32_linear(const std::vector<float>& x, const std::vector<float>& w, int64_t m,
                              int64_t n, int64_t k, const float* bias = nullptr) {
  std::vector<float> y(static_cast<size_t>(m * n));
  const View bias_view{const_cast<float*>(bias), DType::f32, {}, {n}, {1}};
  cpu::matmul(View{const_cast<float*>(x.data()), DType::f32, {}, {m, k}, {k, 1}},
              View{const_cast<float*>(w.data()), DType::f32, {}, {k, n}, {1, k}},
              View{y.data(), DType::f32, {}, {m, n}, {n, 1}}, bias ? &bias_view : nullptr);
  return y;
}

// Codes of either signedness stored as bytes, rows with a leading dimension.
struct Codes {
  std::vector<uint8_t> bytes;
  bool is_unsigned = false;
  int64_t rows = 0, cols = 0, ld = 0;
  int value(int64_t r, int64_t c) const {
    const uint8_t b = bytes[r * ld + c];
    return is_unsigned ? b : static_cast<int8_t>(b);
  }
};

// Row r gets pattern (r + offset) % 4: all max, all min, max/min alternating, uniform random.
Codes make_codes(int64_t rows, int64_t cols, int64_t ld, bool is_unsigned, int offset,
                 Generator& gen) {
  Codes c{std::vector<uint8_t>(static_cast<size_t>(rows * ld), 99), is_unsigned, rows, cols, ld};
  const int lo = is_unsigned ? 0 : -128, hi = is_unsigned ? 255 : 127;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < cols; ++k) {
      const int64_t pattern = (r + offset) % 4;
      const int v = pattern == 0   ? hi
                    : pattern == 1 ? lo
                    : pattern == 2 ? (k % 2 ? lo : hi)
                                   : lo + static_cast<int>(gen.below(hi - lo + 1));
      c.bytes[r * ld + k] = static_cast<uint8_t>(v);
    }
  }
  return c;
}

// float(sum_k (a - zp) * w) from an int64 loop.
std::vector<float> reference_products(const Codes& a, int32_t zp, const Codes& w) {
  std::vector<float> y(static_cast<size_t>(a.rows * w.rows));
  for (int64_t i = 0; i < a.rows; ++i) {
    for (int64_t j = 0; j < w.rows; ++j) {
      int64_t acc = 0;
      for (int64_t k = 0; k < a.cols; ++k) acc += int64_t{a.value(i, k) - zp} * w.value(j, k);
      y[i * w.rows + j] = static_cast<float>(acc);
    }
  }
  return y;
}

// The same product through one explicit kernel (int8_gemm itself takes the best one), on a
// weight packed for that kernel.
void run_kernel(quant::detail::Int8Kernel kernel, const Int8Activations& a, const Codes& w,
                const std::vector<float>& w_scales, const float* bias, float* y, int64_t ldy) {
  const quant::detail::PackedInt8Weight packed = quant::detail::pack_int8_weight(
      reinterpret_cast<const int8_t*>(w.bytes.data()), w.rows, w.cols, w_scales, kernel);
  quant::detail::int8_gemm_run(a, packed, bias, y, ldy);
}

// Every kernel this CPU can run exactly: the portable loop, AVX2 where present, and oneDNN where
// it multiplies int8 exactly (VNNI or AMX).
std::vector<quant::detail::Int8Kernel> exact_kernels() {
  using quant::detail::Int8Kernel;
  std::vector<Int8Kernel> kernels;
  for (Int8Kernel k : {Int8Kernel::kPortable, Int8Kernel::kAvx2, Int8Kernel::kOneDnn}) {
    if (quant::detail::int8_kernel_is_exact(k)) kernels.push_back(k);
  }
  return kernels;
}

// y [m, ldy] holds want [m, n] exactly, and its padding columns still hold kPad.
constexpr float kPad = -7.0f;
::testing::AssertionResult equals_padded(const std::vector<float>& y, int64_t ldy,
                                         const std::vector<float>& want, int64_t n) {
  for (size_t idx = 0; idx < y.size(); ++idx) {
    const int64_t i = static_cast<int64_t>(idx) / ldy, j = static_cast<int64_t>(idx) % ldy;
    const float expected = j < n ? want[i * n + j] : kPad;
    if (y[idx] != expected) {
      return ::testing::AssertionFailure()
             << "y[" << i << ", " << j << "] = " << y[idx] << ", expected " << expected;
    }
  }
  return ::testing::AssertionSuccess();
}

// Scales are powers of two, so the epilogue's float(acc) * (a_scale * w_scale) is exact and only
// the bias addition rounds: the kernels must match this reference bit for bit.
TEST(Int8Gemm, AccumulatorIsExactForRandomAndAdversarialCodes) {
  Generator gen(1);
  struct Kind {
    bool is_unsigned;
    int32_t zero_point;
  };
  std::vector<float> pow2(301), bias = randn(300, gen);
  for (size_t i = 0; i < pow2.size(); ++i) pow2[i] = std::ldexp(1.0f, static_cast<int>(i % 5) - 2);
  for (int64_t m : {1, 3, 17}) {
    for (int64_t k : {1, 7, 4096}) {
      for (int64_t n : {1, 5, 300}) {
        for (Kind kind : {Kind{false, 0}, Kind{false, -37}, Kind{true, 128}, Kind{true, 255}}) {
          for (int offset = 0; offset < 4; ++offset) {
            const Codes a = make_codes(m, k, k + 3, kind.is_unsigned, offset, gen);
            const Codes w = make_codes(n, k, k, false, 3 * offset, gen);
            // Odd offsets: per-token and per-channel scales, even: per tensor; bias from 2 on.
            const bool per_row = offset % 2 == 1;
            const float* b = offset >= 2 ? bias.data() : nullptr;
            const Int8Weight weight(
                reinterpret_cast<const int8_t*>(w.bytes.data()), n, k,
                std::vector<float>(pow2.begin() + 1, pow2.begin() + 1 + (per_row ? n : 1)));
            const Int8Activations act{a.bytes.data(),  kind.is_unsigned, m, k, a.ld, pow2.data(),
                                      per_row ? m : 1, kind.zero_point};
            std::vector<float> want = reference_products(a, kind.zero_point, w);
            for (int64_t i = 0; i < m; ++i) {
              for (int64_t j = 0; j < n; ++j) {
                const float s = act.scales[per_row ? i : 0] * weight.scales()[per_row ? j : 0];
                want[i * n + j] = want[i * n + j] * s + (b ? b[j] : 0.0f);
              }
            }
            const int64_t ldy = n + 2;
            const auto where = ::testing::Message() << "m " << m << " k " << k << " n " << n
                                                    << " u8 " << kind.is_unsigned << " zp "
                                                    << kind.zero_point << " offset " << offset;
            for (auto kernel : exact_kernels()) {
              std::vector<float> y(static_cast<size_t>(m * ldy), kPad);
              run_kernel(kernel, act, w, weight.scales(), b, y.data(), ldy);
              ASSERT_TRUE(equals_padded(y, ldy, want, n))
                  << "kernel " << static_cast<int>(kernel) << ", " << where;
            }
            std::vector<float> y(static_cast<size_t>(m * ldy), kPad);
            quant::int8_gemm(act, weight, b, y.data(), ldy);
            ASSERT_TRUE(equals_padded(y, ldy, want, n)) << "int8_gemm, " << where;
          }
        }
      }
    }
  }
}

// oneDNN's kernel runs only where it is exact; on other CPUs its plumbing (layouts, zero-point
// compensation, epilogue) is still checked, with codes small enough that VPMADDUBSW's int16 pair
// sums cannot saturate: u8 activations <= 127 against any weight, s8 activations (which oneDNN
// shifts by +128 into u8) against weights in [-64, 64].
TEST(Int8Gemm, OneDnnKernelPlumbingWithCodesThatCannotSaturate) {
  Generator gen(9);
  const std::vector<float> unit(17, 1.0f);
  for (bool is_unsigned : {true, false}) {
    const int64_t m = 17, k = 1001, n = 300, ldy = n + 1;
    Codes a = make_codes(m, k, k + 5, is_unsigned, 0, gen);
    Codes w = make_codes(n, k, k, false, 1, gen);
    if (is_unsigned) {
      for (uint8_t& b : a.bytes) b /= 2;
    } else {
      for (uint8_t& b : w.bytes) b = static_cast<uint8_t>(static_cast<int8_t>(b) / 2);
    }
    const int32_t zp = is_unsigned ? 100 : -3;
    const Int8Activations act{a.bytes.data(), is_unsigned, m, k, a.ld, unit.data(), m, zp};
    std::vector<float> y(static_cast<size_t>(m * ldy), kPad);
    run_kernel(quant::detail::Int8Kernel::kOneDnn, act, w, {1.0f}, nullptr, y.data(), ldy);
    EXPECT_TRUE(equals_padded(y, ldy, reference_products(a, zp, w), n)) << "u8 " << is_unsigned;
  }
}

// Quantizes x [rows, cols] with `spec` (scales from range.h + scale_rules.h, as fake-quant's
// current scaling derives them) and returns the codes, scales, zero point and dequantized values.
template <typename Code>
struct Quantized {
  std::vector<Code> codes;
  std::vector<float> scales, zero_points, dequantized;
};

template <typename Code>
Quantized<Code> quantize(const std::vector<float>& x, int64_t rows, int64_t cols,
                         const QuantSpec& spec) {
  const quant::ScaleLayout layout = quant::scale_layout(spec, {rows, cols});
  Quantized<Code> q;
  std::vector<float> lo(layout.count), hi(layout.count);
  quant::min_max(x.data(), rows * cols, layout, lo.data(), hi.data());
  for (int64_t c = 0; c < layout.count; ++c) {
    const quant::IntQParams p = quant::int_qparams(spec, lo[c], hi[c]);
    q.scales.push_back(p.scale);
    q.zero_points.push_back(static_cast<float>(p.zero_point));
  }
  q.codes.resize(x.size());
  q.dequantized.resize(x.size());
  quant::quantize_int<Code>(x.data(), rows * cols, layout, q.scales.data(), q.zero_points.data(),
                            spec.qmin, spec.qmax, q.codes.data());
  quant::dequantize_int<Code>(q.codes.data(), rows * cols, layout, q.scales.data(),
                              q.zero_points.data(), spec.qmin, spec.qmax, q.dequantized.data());
  return q;
}

// The deployed int8 GEMM computes sum_k (q_a - zp) * q_w exactly and scales once; fake-quant sums
// the products of the dequantized values in f32. Both are the same real number, so the only
// difference is f32 rounding of the products and of the summation order: ~1e-7 relative each,
// growing like sqrt(k), far below 1e-5.
TEST(Int8Gemm, MatchesTheFakeQuantModel) {
  Generator gen(3);
  const int64_t m = 33, k = 257, n = 70;
  const std::vector<float> x = randn(m * k, gen, 2.0), w = randn(n * k, gen, 0.1);
  const std::vector<float> bias = randn(n, gen);
  std::vector<float> y(static_cast<size_t>(m * n));
  // W8A8 per token x per channel, symmetric.
  const auto wq = quantize<int8_t>(w, n, k, QuantSpec::int8_symmetric().per_channel(0));
  const Int8Weight weight(wq.codes.data(), n, k, wq.scales);
  const Int8Weight copy = weight;  // shares the prepared state
  EXPECT_EQ(&copy.packed(), &weight.packed());
  EXPECT_EQ(copy.scales(), wq.scales);
  const auto xq = quantize<int8_t>(x, m, k, QuantSpec::int8_symmetric().per_token());
  quant::int8_gemm({xq.codes.data(), false, m, k, k, xq.scales.data(), m, 0}, copy, bias.data(),
                   y.data(), n);
  EXPECT_LE(relative_error(y, f32_linear(xq.dequantized, wq.dequantized, m, n, k, bias.data())),
            1e-5);
  // uint8 affine activations with a zero point, per-tensor weights.
  const auto wt = quantize<int8_t>(w, n, k, QuantSpec::int8_symmetric());
  const Int8Weight tensor_weight(wt.codes.data(), n, k, wt.scales);
  std::vector<float> shifted = x;
  for (float& v : shifted) v += 1.5f;  // an asymmetric range gives a zero point away from 0 and 255
  const auto xu = quantize<uint8_t>(shifted, m, k, QuantSpec::uint8_affine());
  ASSERT_GT(xu.zero_points[0], 0.0f);
  quant::int8_gemm({xu.codes.data(), true, m, k, k, xu.scales.data(), 1,
                    static_cast<int32_t>(xu.zero_points[0])},
                   tensor_weight, nullptr, y.data(), n);
  EXPECT_LE(relative_error(y, f32_linear(xu.dequantized, wt.dequantized, m, n, k)), 1e-5);
}

TEST(QuantizeRowsInt8, BitIdenticalToPerTokenFakeQuant) {
  Generator gen(4);
  const int64_t m = 6, k = 300, ldx = 310;
  std::vector<float> x(static_cast<size_t>(m * ldx), std::nanf(""));  // padding must not be read
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t c = 0; c < k; ++c) {
      float v = static_cast<float>(gen.normal() * std::pow(10.0, i - 2));
      if (i == 0) v = 0.0f;                                     // all zero: the scale floor
      if (i == 5) v = static_cast<float>(c % 7) - 3.0f + 0.5f;  // halves: ties to even
      x[i * ldx + c] = v;
    }
  }
  std::vector<int8_t> codes(static_cast<size_t>(m * k));
  std::vector<float> scales(m);
  quant::quantize_rows_int8(x.data(), m, k, ldx, codes.data(), scales.data());

  std::vector<float> dense(static_cast<size_t>(m * k));
  for (int64_t i = 0; i < m; ++i) std::copy_n(&x[i * ldx], k, &dense[i * k]);
  const auto want = quantize<int8_t>(dense, m, k, QuantSpec::int8_symmetric().per_token());
  EXPECT_EQ(codes, want.codes);
  EXPECT_EQ(scales, want.scales);
  // And dequantized, they are the fake-quant kernel's output bit for bit.
  std::vector<float> fq(dense.size());
  quant::fake_quant_int<float>(dense.data(), m * k,
                               quant::scale_layout(QuantSpec::int8_symmetric().per_token(), {m, k}),
                               scales.data(), nullptr, -127, 127, fq.data(), nullptr);
  EXPECT_EQ(fq, want.dequantized);

  x[2 * ldx + 17] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(throws_naming(
      [&] { quant::quantize_rows_int8(x.data(), m, k, ldx, codes.data(), scales.data()); },
      "quantize_rows_int8"));
}

TEST(Fp8Gemm, MatchesTheDequantizedReference) {
  Generator gen(5);
  // m * k above the decoding loops' parallel threshold, so their threads are exercised too, and
  // k long enough that the weight is widened in two blocks (48 and 22 rows).
  const int64_t m = 17, k = 32772, n = 70, lda = k + 5, ldy = n + 3;
  const std::vector<float> x = randn(m * k, gen, 3.0), w = randn(n * k, gen, 0.05);
  const std::vector<float> bias = randn(n, gen);
  for (auto format : {quant::Fp8Format::kE4M3, quant::Fp8Format::kE5M2}) {
    for (bool per_channel : {false, true}) {
      const QuantSpec spec =
          format == quant::Fp8Format::kE4M3 ? QuantSpec::fp8_e4m3() : QuantSpec::fp8_e5m2();
      // Codes, scales (current scaling) and dequantized values, as fake-quant computes them.
      auto fp8 = [&](const std::vector<float>& v, int64_t rows, const QuantSpec& s) {
        const quant::ScaleLayout layout = quant::scale_layout(s, {rows, k});
        std::vector<float> amax(layout.count), scales, dequantized(v.size());
        quant::abs_max(v.data(), rows * k, layout, amax.data());
        for (float a : amax) scales.push_back(quant::fp8_scale(s, a, 1.0f));
        std::vector<uint8_t> codes(v.size());
        quant::quantize_fp8(v.data(), rows * k, layout, scales.data(), format, true, codes.data());
        quant::dequantize_fp8(codes.data(), rows * k, layout, scales.data(), format,
                              dequantized.data());
        return std::tuple{codes, scales, dequantized};
      };
      const auto [w_codes, w_scales, wd] = fp8(w, n, per_channel ? spec.per_channel(0) : spec);
      const auto [x_codes, x_scale, xd] = fp8(x, m, spec);
      std::vector<uint8_t> a_codes(static_cast<size_t>(m * lda), 0x7f);  // NaN padding
      for (int64_t i = 0; i < m; ++i) std::copy_n(&x_codes[i * k], k, &a_codes[i * lda]);
      const quant::Fp8Weight weight(w_codes.data(), format, n, k, w_scales);
      EXPECT_LT(weight.resident_bytes(), static_cast<size_t>(n * k * 2 + 4096));
      std::vector<float> y(static_cast<size_t>(m * ldy), kPad), got;
      quant::fp8_gemm(a_codes.data(), format, m, k, lda, x_scale[0], weight, bias.data(), y.data(),
                      ldy);
      for (int64_t i = 0; i < m; ++i) {
        got.insert(got.end(), &y[i * ldy], &y[i * ldy + n]);
        EXPECT_EQ(y[i * ldy + n], kPad);
      }
      EXPECT_LE(relative_error(got, f32_linear(xd, wd, m, n, k, bias.data())), 1e-5)
          << "E5M2 " << (format == quant::Fp8Format::kE5M2) << " per-channel " << per_channel;
    }
  }
}

TEST(WeightOnlyInt8, MatchesTheDequantizedWeightAcrossBlocks) {
  Generator gen(6);
  const int64_t m = 5, k = 16384, n = 300;  // 128 rows per block: 3 blocks, the last partial
  const std::vector<float> x = randn(m * k, gen), w = randn(n * k, gen, 0.02);
  const std::vector<float> bias = randn(n, gen);
  const auto wq = quantize<int8_t>(w, n, k, QuantSpec::int8_symmetric().per_channel(0));
  const Int8Weight weight(wq.codes.data(), n, k, wq.scales);
  EXPECT_LT(weight.resident_bytes(), static_cast<size_t>(n * k * 11 / 10));
  std::vector<float> y(static_cast<size_t>(m * n));
  quant::weight_only_int8_gemm(x.data(), m, k, k, weight, bias.data(), y.data(), n);
  EXPECT_LE(relative_error(y, f32_linear(x, wq.dequantized, m, n, k, bias.data())), 1e-6);
}

// The exported parts of a calibrated qat::LlmInt8Linear, run by the kernel, against the layer.
void expect_llm_int8_matches_layer(const std::vector<float>& calibration,
                                   const std::vector<float>& input, int64_t rows, int64_t in,
                                   int64_t out, size_t expected_outliers) {
  Generator gen(7);
  nn::Linear source(in, out, true, gen);
  qat::LlmInt8Linear layer(source);
  const Tensor calib =
      Tensor::from_vector(calibration, {static_cast<int64_t>(calibration.size()) / in, in});
  qat::calibrate(layer, 1, [&](int64_t) { layer.forward(calib); });
  const qat::LlmInt8Parts parts = qat::llm_int8_parts(layer);
  ASSERT_EQ(static_cast<size_t>(parts.outlier_columns.numel()), expected_outliers);
  const int64_t regular = in - static_cast<int64_t>(expected_outliers);
  const quant::LlmInt8Weight weight(
      parts.outlier_columns.to_vector<int64_t>(), parts.outlier_weight.to_vector<float>().data(),
      Int8Weight(parts.regular_weight_codes.to_vector<int8_t>().data(), out, regular,
                 parts.weight_scale.to_vector<float>()));
  std::vector<float> y(static_cast<size_t>(rows * out));
  const std::vector<float> bias = parts.bias.to_vector<float>();
  quant::llm_int8_gemm(input.data(), rows, in, in, weight, bias.data(), y.data(), out);
  const Tensor want = layer.forward(Tensor::from_vector(input, {rows, in}));
  EXPECT_LE(relative_error(y, want.to_vector<float>()), 1e-5)
      << rows << " rows, " << expected_outliers << " outliers";
}

TEST(LlmInt8Gemm, MatchesTheFakeQuantLayer) {
  Generator gen(8);
  const int64_t in = 64, out = 24;
  auto with_outliers = [&](int64_t rows, const std::vector<int64_t>& columns) {
    std::vector<float> x = randn(rows * in, gen, 0.5);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c : columns) x[r * in + c] *= 40.0f;
    }
    return x;
  };
  const std::vector<int64_t> planted = {3, 40, 63};
  std::vector<int64_t> every(in);
  for (int64_t c = 0; c < in; ++c) every[c] = c;
  expect_llm_int8_matches_layer(with_outliers(32, planted), with_outliers(7, planted), 7, in, out,
                                planted.size());
  expect_llm_int8_matches_layer(with_outliers(32, planted), with_outliers(1, planted), 1, in, out,
                                planted.size());
  expect_llm_int8_matches_layer(with_outliers(32, {}), with_outliers(7, {}), 7, in, out, 0);
  expect_llm_int8_matches_layer(with_outliers(32, every), with_outliers(7, every), 7, in, out,
                                every.size());
}

TEST(QGemm, BadArgumentsThrowNamingTheProblem) {
  const std::vector<int8_t> codes(5 * 8, 1);
  const std::vector<uint8_t> fp8(5 * 8, 0x38);
  const std::vector<float> x(3 * 9, 1.0f), s(3, 1.0f), ow(5 * 2, 1.0f), one(1, 1.0f), two(2, 1.0f);
  const std::vector<int64_t> unsorted = {4, 2}, outside = {2, 9};
  std::vector<float> y(3 * 5);
  const auto e4m3 = quant::Fp8Format::kE4M3;
  const Int8Weight w(codes.data(), 5, 8, one), regular(codes.data(), 5, 7, one);
  const quant::Fp8Weight fw(fp8.data(), e4m3, 5, 8, one);
  const quant::LlmInt8Weight llm({2, 4}, ow.data(), regular);
  const Int8Activations wrong_k{codes.data(), false, 3, 9, 9, s.data(), 1, 0};
  const Int8Activations two_scales{codes.data(), false, 3, 8, 8, s.data(), 2, 0};
  const Int8Activations bad_zp{codes.data(), true, 3, 8, 8, s.data(), 1, 300};
  const std::vector<std::pair<std::function<void()>, std::string>> cases = {
      {[&] { Int8Weight(codes.data(), 5, 8, two); }, "scale count"},
      {[&] { Int8Weight(codes.data(), 1, 70000, one); }, "exceeds"},
      {[&] { quant::int8_gemm(wrong_k, w, nullptr, y.data(), 5); }, "k mismatch"},
      {[&] { quant::int8_gemm(two_scales, w, nullptr, y.data(), 5); }, "scale count"},
      {[&] { quant::int8_gemm(bad_zp, w, nullptr, y.data(), 5); }, "zero point"},
      {[&] { quant::weight_only_int8_gemm(x.data(), 3, 9, 9, w, nullptr, y.data(), 5); },
       "k mismatch"},
      {[&] { quant::Fp8Weight(fp8.data(), e4m3, 5, 8, two); }, "scale count"},
      {[&] { quant::fp8_gemm(fp8.data(), e4m3, 3, 9, 9, 1.0f, fw, nullptr, y.data(), 5); },
       "k mismatch"},
      {[&] { quant::LlmInt8Weight(unsorted, ow.data(), regular); }, "ascending"},
      {[&] { quant::LlmInt8Weight(outside, ow.data(), regular); }, "outside"},
      {[&] { quant::llm_int8_gemm(x.data(), 3, 8, 8, llm, nullptr, y.data(), 5); }, "k mismatch"},
  };
  for (const auto& [call, what] : cases) EXPECT_TRUE(throws_naming(call, what)) << what;
}

}  // namespace
}  // namespace octet
