// The cuBLASLt GEMMs (ops/cuda/gemm.h, qgemm.h) against their CPU twins on fresh random inputs:
// matmul in f32/bf16/f64 over batched, broadcast and transposed layouts with bias and accumulate;
// linear() forward and backward on the GPU; INT8 accumulators bit-for-bit and the dequant epilogue
// against quant::int8_gemm; FP8 against quant::fp8_gemm; the alignment errors; the plan cache.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "framework/functional/linear.h"
#include "framework/random.h"
#include "framework/tensor/tensor.h"
#include "ops/cpu/gemm.h"
#include "ops/cuda/gemm.h"
#include "ops/cuda/qgemm.h"
#include "ops/cuda/runtime.h"
#include "ops/quant/fp8.h"
#include "ops/quant/qgemm.h"
#include "tests/support/gpu_util.h"

namespace octet {
namespace {

using testing::gpu0;
using testing::max_abs_diff;

// One matmul case: a [B?, M, K] (stored transposed when a_t), b [B?, K, N] (stored transposed
// when b_t; batch 1 with stride 0 when b_bcast), c [B?, M, N]; B = 0 means 2-D operands.
struct Case {
  int64_t B, M, N, K;
  bool a_t = false, b_t = false, b_bcast = false, bias = false, accumulate = false;
  std::string str() const {
    return "B" + std::to_string(B) + " M" + std::to_string(M) + " N" + std::to_string(N) + " K" +
           std::to_string(K) + (a_t ? " a^T" : "") + (b_t ? " b^T" : "") +
           (b_bcast ? " b-bcast" : "") + (bias ? " bias" : "") + (accumulate ? " acc" : "");
  }
};

Shape with_batch(int64_t B, int64_t r, int64_t c) { return B ? Shape{B, r, c} : Shape{r, c}; }

// A [rows, cols] operand (batched when B) whose storage is transposed when `t`.
Tensor operand(Generator& gen, int64_t B, int64_t rows, int64_t cols, bool t, DType dtype) {
  if (!t) return Tensor::randn(with_batch(B, rows, cols), gen).to(dtype);
  Tensor s = Tensor::randn(with_batch(B, cols, rows), gen).to(dtype);
  return B ? s.transpose(1, 2) : s.transpose(0, 1);
}

// Runs the case on both devices; returns max |gpu - cpu| relative to the outputs' size
// (max |cpu| + 1).
double run_case(const Case& k, DType in, DType out, uint64_t seed) {
  Generator gen(seed);
  const int64_t B = k.b_bcast && k.B == 0 ? 2 : k.B;
  Tensor a = operand(gen, B, k.M, k.K, k.a_t, in);
  Tensor b = operand(gen, k.b_bcast ? 1 : B, k.K, k.N, k.b_t, in);
  // The CPU computes f32 (its bf16 GEMM has no bf16 output); bf16 output is compared after
  // rounding.
  const DType cpu_out = out == DType::bf16 ? DType::f32 : out;
  Tensor c0 = Tensor::randn(with_batch(B, k.M, k.N), gen).to(cpu_out);
  Tensor bias = Tensor::randn({k.N}, gen).to(out).to(cpu_out);
  Tensor ad = a.cuda(), bd = b.cuda(), biasd = bias.to(out).cuda();
  Tensor cd = c0.to(out).cuda(), ch = c0.to(out).to(cpu_out).clone();
  auto view_of = [&](const Tensor& t) {
    View v = t.view();
    if (k.b_bcast) v.shape[0] = B, v.strides[0] = 0;
    return v;
  };
  const View bias_h = bias.view(), bias_d = biasd.view();
  cpu::matmul(a.view(), view_of(b), ch.view(), k.bias ? &bias_h : nullptr, k.accumulate);
  cuda::matmul(ad.view(), view_of(bd), cd.view(), k.bias ? &bias_d : nullptr, k.accumulate);
  const double size = max_abs_diff(ch, Tensor::zeros(ch.shape(), cpu_out)) + 1;
  return max_abs_diff(cd.to(cpu_out), out == DType::bf16 ? ch.to(DType::bf16).to(cpu_out) : ch) /
         size;
}

std::vector<Case> cases() {
  std::vector<Case> out;
  const int64_t sizes[][3] = {{1, 1, 1}, {7, 33, 1},   {1, 7, 33},     {33, 1, 7},
                              {7, 7, 7}, {33, 128, 7}, {128, 33, 128}, {64, 48, 256}};
  uint64_t i = 0;
  for (const auto& s : sizes) {
    for (int64_t B : {0, 3}) {
      for (int variant = 0; variant < 4; ++variant, ++i) {
        Case c{B, s[0], s[1], s[2]};
        c.a_t = variant & 1;
        c.b_t = variant & 2;
        c.bias = (i % 3) != 0;
        c.accumulate = (i % 4) == 1;
        c.b_bcast = B && (i % 5) == 2;
        out.push_back(c);
      }
    }
  }
  return out;
}

TEST(CudaGemm, MatmulMatchesTheCpuInEveryLayout) {
  OCTET_REQUIRE_GPU();
  cuda::set_allow_tf32(false);
  uint64_t seed = 100;
  for (const Case& c : cases()) {
    const double size = std::sqrt(static_cast<double>(c.K)) + 1;
    // f32: FP32 sums of the same products in different orders; bf16 inputs have exact f32
    // products, so they meet the same bound; f64 far below it.
    EXPECT_LT(run_case(c, DType::f32, DType::f32, ++seed), 1e-6 * size) << "f32 " << c.str();
    EXPECT_LT(run_case(c, DType::bf16, DType::f32, ++seed), 1e-6 * size) << "bf16 " << c.str();
    EXPECT_LT(run_case(c, DType::f64, DType::f64, ++seed), 1e-14 * size) << "f64 " << c.str();
    // bf16 output: both round the f32 result once; they differ by at most one bf16 ulp (2^-7
    // relative) where the f32 results straddle a rounding boundary.
    EXPECT_LT(run_case(c, DType::bf16, DType::bf16, ++seed), 8e-3) << "bf16->bf16 " << c.str();
  }
}

TEST(CudaGemm, EmptyInnerDimensionGivesBiasOrKeepsC) {
  OCTET_REQUIRE_GPU();
  for (bool acc : {false, true}) {
    Case c{2, 5, 6, 0};
    c.bias = true;
    c.accumulate = acc;
    EXPECT_EQ(run_case(c, DType::f32, DType::f32, 7), 0.0) << c.str();
  }
}

TEST(CudaGemm, HeuristicCacheDoesNotGrowOnARepeatedShape) {
  OCTET_REQUIRE_GPU();
  Case c{0, 96, 80, 64};
  run_case(c, DType::f32, DType::f32, 1);
  const size_t before = cuda::matmul_cache_size();
  for (uint64_t s = 2; s < 6; ++s) run_case(c, DType::f32, DType::f32, s);
  EXPECT_EQ(cuda::matmul_cache_size(), before);
  run_case(Case{0, 97, 80, 64}, DType::f32, DType::f32, 9);
  EXPECT_EQ(cuda::matmul_cache_size(), before + 1);
}

TEST(CudaGemm, Tf32IsOptInAndClose) {
  OCTET_REQUIRE_GPU();
  EXPECT_FALSE(cuda::allow_tf32());
  cuda::set_allow_tf32(true);
  // TF32 rounds the inputs to 10 mantissa bits: ~1e-3 relative per product.
  const double err = run_case(Case{0, 128, 128, 256}, DType::f32, DType::f32, 11);
  cuda::set_allow_tf32(false);
  EXPECT_LT(err, 5e-3);
}

// linear() and matmul() through autograd on both devices: outputs and every gradient.
TEST(CudaGemm, LinearAndMatmulForwardBackwardMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(21);
  Tensor x = Tensor::randn({4, 9, 33}, gen), w = Tensor::randn({17, 33}, gen);
  Tensor b = Tensor::randn({17}, gen), up = Tensor::randn({4, 9, 17}, gen);
  auto leaf = [](const Tensor& t) { return t.detach().clone().set_requires_grad(); };
  Tensor xh = leaf(x), wh = leaf(w), bh = leaf(b);
  Tensor xd = leaf(x.cuda()), wd = leaf(w.cuda()), bd = leaf(b.cuda());
  Tensor yh = linear(xh, wh, bh), yd = linear(xd, wd, bd);
  EXPECT_EQ(yd.device(), gpu0());
  EXPECT_LT(max_abs_diff(yd, yh), 1e-4);
  yh.backward(up);
  yd.backward(up.cuda());
  EXPECT_LT(max_abs_diff(xd.grad(), xh.grad()), 1e-4);
  EXPECT_LT(max_abs_diff(wd.grad(), wh.grad()), 1e-4);
  EXPECT_LT(max_abs_diff(bd.grad(), bh.grad()), 1e-4);

  // Batched matmul with a transposed right side (q @ k^T), f64 as gradcheck runs it.
  Tensor q = Tensor::randn({2, 3, 7, 5}, gen).to(DType::f64);
  Tensor k = Tensor::randn({2, 3, 6, 5}, gen).to(DType::f64);
  Tensor qh = leaf(q), kh = leaf(k), qd = leaf(q.cuda()), kd = leaf(k.cuda());
  Tensor sh = matmul(qh, kh.transpose(2, 3)), sd = matmul(qd, kd.transpose(2, 3));
  EXPECT_LT(max_abs_diff(sd, sh), 1e-12);
  Tensor g = Tensor::randn(sh.shape(), gen).to(DType::f64);
  sh.backward(g);
  sd.backward(g.cuda());
  EXPECT_LT(max_abs_diff(qd.grad(), qh.grad()), 1e-12);
  EXPECT_LT(max_abs_diff(kd.grad(), kh.grad()), 1e-12);
}

TEST(CudaGemm, OperandsOnDifferentDevicesAreAClearError) {
  OCTET_REQUIRE_GPU();
  Generator gen(5);
  Tensor x = Tensor::randn({3, 4}, gen), w = Tensor::randn({2, 4}, gen);
  EXPECT_THROW(linear(x.cuda(), w), Error);
}

// ---- INT8 ----

std::vector<int8_t> codes(Generator& gen, int64_t n) {
  std::vector<int8_t> v(static_cast<size_t>(n));
  for (int8_t& c : v) c = static_cast<int8_t>(static_cast<int>(gen.next_u64() % 256) - 128);
  return v;
}

std::vector<float> positive(Generator& gen, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& s : v) s = static_cast<float>(0.001 + 0.01 * gen.uniform());
  return v;
}

TEST(CudaQgemm, Int8AccumulatorsAreExactAndTheEpilogueMatchesTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(31);
  const int64_t shapes[][3] = {
      {1, 1, 4}, {7, 33, 36}, {33, 7, 128}, {128, 96, 4096}, {5, 130, 512}};
  for (const auto& s : shapes) {
    const int64_t M = s[0], N = s[1], K = s[2];
    const std::vector<int8_t> a = codes(gen, M * K), w = codes(gen, N * K);
    std::vector<int32_t> ref(static_cast<size_t>(M * N));
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        int32_t acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += int32_t{a[i * K + k]} * int32_t{w[j * K + k]};
        ref[i * N + j] = acc;
      }
    Tensor ad = Tensor::from_vector(a, {M, K}).cuda(), wd = Tensor::from_vector(w, {N, K}).cuda();
    const int64_t ld = (N + 3) / 4 * 4;
    Tensor accd = Tensor::empty({M, ld}, DType::i32, gpu0()).slice(1, 0, N);
    cuda::int8_matmul(ad.view(), wd.view(), accd.view());
    EXPECT_EQ(accd.cpu().contiguous().to_vector<int32_t>(), ref) << M << "x" << N << "x" << K;

    for (bool per_row : {false, true}) {
      const std::vector<float> sa = positive(gen, per_row ? M : 1), sw = positive(gen, N);
      const std::vector<float> bias = positive(gen, N);
      std::vector<float> yh(static_cast<size_t>(M * N));
      quant::Int8Activations act{
          a.data(), false, M, K, K, sa.data(), static_cast<int64_t>(sa.size()), 0};
      quant::int8_gemm(act, quant::Int8Weight(w.data(), N, K, sw), bias.data(), yh.data(), N);
      Tensor sad = Tensor::from_vector(sa, {static_cast<int64_t>(sa.size())}).cuda();
      Tensor swd = Tensor::from_vector(sw, {N}).cuda(), bd = Tensor::from_vector(bias, {N}).cuda();
      Tensor yd = Tensor::empty({M, N}, DType::f32, gpu0());
      const View bias_view = bd.view();
      cuda::int8_gemm(ad.view(), sad.view(), wd.view(), swd.view(), &bias_view, yd.view());
      // Bit-identical when both sides fuse the bias add; one f32 rounding apart otherwise.
      float y_max = 0;
      for (float v : yh) y_max = std::max(y_max, std::abs(v));
      const std::vector<float> got = yd.cpu().to_vector<float>();
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], yh[i], 2.4e-7 * (y_max + std::abs(yh[i]))) << i;
    }
  }
}

TEST(CudaQgemm, Int8MisalignedKIsAClearError) {
  OCTET_REQUIRE_GPU();
  Tensor a = Tensor::zeros({4, 6}, DType::i8, gpu0()), w = Tensor::zeros({8, 6}, DType::i8, gpu0());
  Tensor acc = Tensor::empty({4, 8}, DType::i32, gpu0());
  try {
    cuda::int8_matmul(a.view(), w.view(), acc.view());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("k = 6 is not a multiple of 4"), std::string::npos)
        << e.what();
  }
}

// ---- FP8 ----

std::vector<uint8_t> fp8_codes(Generator& gen, int64_t n, quant::Fp8Format f, double spread) {
  std::vector<uint8_t> v(static_cast<size_t>(n));
  for (uint8_t& c : v) c = quant::fp8_encode(static_cast<float>(gen.normal() * spread), f, true);
  return v;
}

// A [rows, cols] device matrix whose row stride is padded to 16 bytes, as cuBLASLt's FP8 kernels
// need for their output.
Tensor padded(int64_t rows, int64_t cols, DType t) {
  const int64_t step = 16 / static_cast<int64_t>(dtype_size(t));
  return Tensor::empty({rows, (cols + step - 1) / step * step}, t, gpu0()).slice(1, 0, cols);
}

Tensor fp8_tensor(const std::vector<uint8_t>& codes, int64_t rows, int64_t cols, DType t) {
  Tensor bytes = Tensor::from_vector(codes, {rows, cols}).cuda();
  View v = bytes.view();
  v.dtype = t;
  return Tensor::wrap(v, bytes.impl_ptr());
}

TEST(CudaQgemm, Fp8MatchesTheCpu) {
  OCTET_REQUIRE_GPU();
  if (!cuda::has_fp8(0)) {
    GTEST_SKIP() << "FP8 needs compute capability 8.9+";
  }
  using quant::Fp8Format;
  Generator gen(41);
  const int64_t shapes[][3] = {{1, 16, 16}, {7, 33, 48}, {64, 40, 256}, {130, 96, 1024}};
  const struct {
    Fp8Format a, w;
  } formats[] = {{Fp8Format::kE4M3, Fp8Format::kE4M3}, {Fp8Format::kE5M2, Fp8Format::kE4M3}};
  for (const auto& s : shapes) {
    for (const auto& f : formats) {
      for (bool per_channel : {false, true}) {
        const int64_t M = s[0], N = s[1], K = s[2];
        const auto a = fp8_codes(gen, M * K, f.a, 4.0), w = fp8_codes(gen, N * K, f.w, 4.0);
        const float sa = 2.5f;
        const std::vector<float> sw = per_channel ? positive(gen, N) : std::vector<float>{0.75f};
        const std::vector<float> bias = positive(gen, N);
        std::vector<float> yh(static_cast<size_t>(M * N));
        quant::fp8_gemm(a.data(), f.a, M, K, K, sa, quant::Fp8Weight(w.data(), f.w, N, K, sw),
                        bias.data(), yh.data(), N);
        auto dt = [](Fp8Format x) { return x == Fp8Format::kE4M3 ? DType::f8e4m3 : DType::f8e5m2; };
        Tensor ad = fp8_tensor(a, M, K, dt(f.a)), wd = fp8_tensor(w, N, K, dt(f.w));
        Tensor sad = Tensor::from_vector(std::vector<float>{sa}, {1}).cuda();
        Tensor swd = Tensor::from_vector(sw, {static_cast<int64_t>(sw.size())}).cuda();
        Tensor bd = Tensor::from_vector(bias, {N}).cuda();
        Tensor yd = padded(M, N, DType::f32);
        const View bias_view = bd.view();
        cuda::fp8_gemm(ad.view(), sad.view(), wd.view(), swd.view(), &bias_view, yd.view());
        // Products of FP8 values are exact on both sides, but Hopper's FP8 tensor cores keep
        // only about 14 significant bits in the accumulator between promotions to f32 (an H100
        // gave a relative difference of 6e-5 at K = 16), so the bound is 2^-12 of the largest
        // output per sqrt(K) terms; a wrong scale or a dropped bias is off by far more.
        double sum_abs = 0;
        for (float v : yh) sum_abs = std::max(sum_abs, static_cast<double>(std::abs(v)));
        const std::vector<float> got = yd.cpu().contiguous().to_vector<float>();
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_NEAR(got[i], yh[i], std::ldexp(sum_abs + 1, -12) * std::sqrt(double(K)))
              << M << "x" << N << "x" << K << " per_channel " << per_channel << " at " << i;

        if (!per_channel) {  // bf16 output: the f32 result rounded once
          Tensor yb = padded(M, N, DType::bf16);
          Tensor bb = bd.to(DType::bf16);
          const View bb_view = bb.view();
          cuda::fp8_gemm(ad.view(), sad.view(), wd.view(), swd.view(), &bb_view, yb.view());
          EXPECT_LT(max_abs_diff(yb, Tensor::from_vector(yh, {M, N})), 1e-2 * (sum_abs + 1));
        }
      }
    }
  }
}

TEST(CudaQgemm, Fp8MisalignedKIsAClearError) {
  OCTET_REQUIRE_GPU();
  Tensor a = fp8_tensor(std::vector<uint8_t>(4 * 24), 4, 24, DType::f8e4m3);
  Tensor w = fp8_tensor(std::vector<uint8_t>(8 * 24), 8, 24, DType::f8e4m3);
  Tensor s = Tensor::ones({1}, DType::f32, gpu0()), y = Tensor::empty({4, 8}, DType::f32, gpu0());
  try {
    cuda::fp8_gemm(a.view(), s.view(), w.view(), s.view(), nullptr, y.view());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    const bool old_gpu = what.find("needs compute capability 8.9+") != std::string::npos;
    EXPECT_TRUE(old_gpu || what.find("k = 24 is not a multiple of 16") != std::string::npos)
        << what;
  }
}

}  // namespace
}  // namespace octet
