// The fused fake-quant kernels (ops/cuda/fake_quant_fused.h) against their CPU twins, bit for bit
// (NaN payloads aside):
// y in f32 and bf16, the STE mask and the per-tensor amax, at lengths and offsets that take the
// four-wide path, the scalar path and both, with NaN, infinities and values that clip. Then a
// QuantLinear under autocast on the GPU against the unfused composition there.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "framework/functional/arithmetic.h"
#include "ops/cuda/fake_quant_fused.h"
#include "ops/quant/fake_quant.h"
#include "ops/quant/range.h"
#include "qat/fake_quant.h"
#include "tests/support/fused_quant_linear.h"
#include "tests/support/gpu_util.h"

namespace octet {
namespace {

using quant::QuantSpec;
using testing::gpu0;

std::vector<float> values(int64_t n, Generator& gen) {
  std::vector<float> v = Tensor::randn({n}, gen).to_vector<float>();
  for (int64_t i = 0; i < n; ++i) v[i] *= 3.0f;
  const float specials[] = {std::numeric_limits<float>::infinity(), -1e30f, 700.0f, -0.0f,
                            std::numeric_limits<float>::quiet_NaN()};
  for (int64_t k = 0; k < 5 && 7 * k + 2 < n; ++k) v[7 * k + 2] = specials[k];
  return v;
}

// The CPU twin: f32 fake-quant, then the cast; amax from range.h.
struct Expected {
  std::vector<float> y;
  std::vector<uint8_t> mask;
  float amax = 0.0f;
};
Expected on_cpu(const std::vector<float>& x, const QuantSpec& spec,
                const quant::ScaleLayout& layout, const std::vector<float>& scales, DType y_dtype) {
  const int64_t n = static_cast<int64_t>(x.size());
  Expected e{std::vector<float>(n), std::vector<uint8_t>(n)};
  if (spec.is_fp8()) {
    quant::fake_quant_fp8(x.data(), n, layout, scales.data(), quant::fp8_format_of(spec.format),
                          spec.saturate, e.y.data(), e.mask.data());
  } else {
    quant::fake_quant_int<float>(x.data(), n, layout, scales.data(), nullptr, spec.qmin, spec.qmax,
                                 e.y.data(), e.mask.data());
  }
  if (y_dtype == DType::bf16)
    e.y = Tensor::from_vector(e.y, {n}).to(DType::bf16).to(DType::f32).to_vector<float>();
  if (layout.count == 1) quant::abs_max(x.data(), n, layout, &e.amax);
  return e;
}

TEST(CudaFusedFakeQuant, MatchesTheCpuAtEveryPathAndOutputDtype) {
  OCTET_REQUIRE_GPU();
  Generator gen(17);
  for (const QuantSpec& spec :
       {QuantSpec::fp8_e4m3(), QuantSpec::fp8_e5m2(), QuantSpec::int8_symmetric(),
        QuantSpec::int8_symmetric().per_channel(1)}) {
    for (int64_t n :
         {int64_t(0), int64_t(1), int64_t(3), int64_t(8), int64_t(1029), int64_t((1 << 20) + 6)}) {
      for (int64_t offset : {0, 1}) {  // 1: no pointer is 16-byte aligned, the scalar path
        for (DType y_dtype : {DType::f32, DType::bf16}) {
          SCOPED_TRACE(spec.str() + " n=" + std::to_string(n) +
                       " offset=" + std::to_string(offset) + " " + dtype_name(y_dtype));
          const Shape shape = spec.granularity == quant::Granularity::kPerChannel
                                  ? Shape{n / 2 > 0 ? n / 2 : 1, n > 1 ? 2 : 1}
                                  : Shape{n};
          const int64_t m = shape.size() == 2 ? shape[0] * shape[1] : n;
          const quant::ScaleLayout layout = quant::scale_layout(spec, shape);
          std::vector<float> scales(layout.count);
          for (int64_t c = 0; c < layout.count; ++c)
            scales[c] = (spec.is_fp8() ? 40.0f : 0.02f) * (1.0f + 0.25f * c);
          const std::vector<float> x = values(m, gen);
          const Expected want = on_cpu(x, spec, layout, scales, y_dtype);

          std::vector<float> padded(offset, 0.0f);
          padded.insert(padded.end(), x.begin(), x.end());
          const Tensor xd = Tensor::from_vector(padded, {m + offset}).to(gpu0());
          const Tensor sd = Tensor::from_vector(scales, {layout.count}).to(gpu0());
          const Tensor yd = Tensor::empty({m + offset}, y_dtype, gpu0());
          const Tensor md = Tensor::empty({m + offset}, DType::u8, gpu0());
          const Tensor ad = Tensor::full({1}, -1.0, DType::f32, gpu0());
          const size_t width = y_dtype == DType::bf16 ? 2 : 4;
          cuda::FakeQuantOutputs out{static_cast<char*>(yd.view().data) + offset * width, y_dtype,
                                     static_cast<uint8_t*>(md.view().data) + offset,
                                     layout.count == 1 ? ad.view().ptr<float>() : nullptr};
          const float* xp = xd.view().ptr<float>() + offset;
          if (spec.is_fp8()) {
            cuda::fake_quant_fp8_fused(xp, m, layout, sd.view().ptr<float>(),
                                       quant::fp8_format_of(spec.format), spec.saturate, out, 0);
          } else {
            cuda::fake_quant_int_fused(xp, m, layout, sd.view().ptr<float>(), nullptr, spec.qmin,
                                       spec.qmax, out, 0);
          }
          const std::vector<float> y = yd.to(DType::f32).to_vector<float>();
          const std::vector<uint8_t> mask = md.to_vector<uint8_t>();
          int64_t wrong_y = 0, wrong_mask = 0;
          for (int64_t i = 0; i < m; ++i) {
            // NaN payloads differ between x86 and CUDA arithmetic; NaN must stay NaN.
            const bool both_nan = std::isnan(y[offset + i]) && std::isnan(want.y[i]);
            wrong_y += !both_nan && std::memcmp(&y[offset + i], &want.y[i], sizeof(float)) != 0;
            wrong_mask += mask[offset + i] != want.mask[i];
          }
          EXPECT_EQ(wrong_y, 0);
          EXPECT_EQ(wrong_mask, 0);
          if (layout.count == 1) {
            const float amax = ad.to_vector<float>()[0];
            if (std::isnan(want.amax)) {
              EXPECT_TRUE(std::isnan(amax));
            } else {
              EXPECT_EQ(amax, want.amax);
            }
          }
        }
      }
    }
  }
}

TEST(CudaFusedFakeQuant, RefusesAFusedAmaxOverSeveralScales) {
  OCTET_REQUIRE_GPU();
  const QuantSpec spec = QuantSpec::fp8_e4m3().per_channel(0);
  const quant::ScaleLayout layout = quant::scale_layout(spec, {4, 8});
  const Tensor x = Tensor::zeros({32}).to(gpu0()), s = Tensor::ones({4}).to(gpu0());
  const Tensor y = Tensor::empty({32}, DType::f32, gpu0()), a = Tensor::empty({1}).to(gpu0());
  EXPECT_THROW(
      cuda::fake_quant_fp8_fused(x.view().ptr<float>(), 32, layout, s.view().ptr<float>(),
                                 quant::Fp8Format::kE4M3, true,
                                 {y.view().data, DType::f32, nullptr, a.view().ptr<float>()}, 0),
      Error);
}

// The backward overwrites the gradient it alone holds (mul's fresh one here) where something
// clipped, and leaves it untouched where nothing did; a gradient someone else holds is copied.
TEST(CudaFusedFakeQuant, BackwardMasksInPlaceOnlyWhereSomethingClipped) {
  OCTET_REQUIRE_GPU();
  Generator gen(23);
  const Tensor x0 = Tensor::randn({64, 33}, gen) * 4.0;
  const Tensor up = Tensor::randn({64, 33}, gen);
  for (float scale : {448.0f / 6.0f, 1.0f}) {  // amax 6 saturates the tail; scale 1 clips nothing
    SCOPED_TRACE("scale " + std::to_string(scale));
    const QuantSpec spec = QuantSpec::fp8_e4m3();
    const qat::QParams p{Tensor::from_vector<float>({scale}, {1}), Tensor()};
    Tensor xc = x0.clone().set_requires_grad();
    Tensor xg = x0.to(gpu0()).detach().set_requires_grad();
    sum(mul(qat::fake_quant(xc, spec, p), up)).backward();
    sum(mul(qat::fake_quant(xg, spec, {p.scale.to(gpu0()), Tensor()}), up.to(gpu0()))).backward();
    EXPECT_EQ(testing::differing_bits(xg.grad(), xc.grad()), 0);
    // A gradient the caller keeps: backward(g) must not write into it.
    Tensor xk = x0.to(gpu0()).detach().set_requires_grad();
    const Tensor g = up.to(gpu0());
    qat::fake_quant(xk, spec, {p.scale.to(gpu0()), Tensor()}).backward(g);
    EXPECT_EQ(testing::differing_bits(g, up), 0);
    EXPECT_EQ(testing::differing_bits(xk.grad(), xc.grad()), 0);
  }
}

TEST(CudaFusedQuantLinear, MatchesTheUnfusedCompositionOnTheGpu) {
  OCTET_REQUIRE_GPU();
  for (const char* scheme : {"fp8_e4m3", "w8a8", "w8a8_dyn", "w4a8"})
    testing::expect_fused_quant_linear_matches_unfused(scheme, gpu0());
}

}  // namespace
}  // namespace octet
