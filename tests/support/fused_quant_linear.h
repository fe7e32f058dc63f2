#pragma once
// Under bf16 autocast a QuantLinear hands its GEMM bf16 operands straight from its fake-quantizers
// (and FP8 delayed scaling takes the input's amax from the same pass): a shortcut that must not
// change a single bit. These checks run the fused layer beside the unfused composition
// linear(input_fake_quant.forward(x), weight_fake_quant.forward(w), b) on one device, for a few
// training steps, and compare outputs, every gradient and every observer buffer bitwise.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "framework/autocast.h"
#include "framework/functional/arithmetic.h"
#include "framework/functional/linear.h"
#include "framework/random.h"
#include "qat/quant_layers.h"
#include "qat/schemes.h"

namespace octet::testing {

// Number of elements whose f32 bits differ (NaN payloads included); sizes must match.
inline int64_t differing_bits(const Tensor& a, const Tensor& b) {
  const std::vector<float> va = a.to(DType::f32).to_vector<float>();
  const std::vector<float> vb = b.to(DType::f32).to_vector<float>();
  EXPECT_EQ(va.size(), vb.size());
  int64_t differ = 0;
  for (size_t i = 0; i < va.size() && i < vb.size(); ++i)
    differ += std::memcmp(&va[i], &vb[i], sizeof(float)) != 0;
  return differ;
}

inline void expect_fused_quant_linear_matches_unfused(const std::string& scheme,
                                                      const Device& device) {
  SCOPED_TRACE(scheme + " on " + device.str());
  Generator gen(29);
  nn::Linear source(64, 48, true, gen);
  const qat::LayerQuantConfig config = qat::scheme_config(scheme);
  auto twin = [&] {
    nn::Linear copy(source.weight().detach().clone().set_requires_grad(),
                    source.bias().detach().clone().set_requires_grad());
    auto q = std::make_shared<qat::QuantLinear>(copy, config);
    q->to(device);
    return q;
  };
  auto fused = twin(), plain = twin();
  for (int step = 0; step < 4; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    // A few large values so that some inputs clip (the STE mask matters) once the scale settles.
    Tensor x0 = Tensor::randn({4, 6, 64}, gen) * (1.0 + step);
    if (step == 2) x0 = add(x0, Tensor::randn({4, 6, 64}, gen) * 40.0);
    const Tensor r = Tensor::randn({4, 6, 48}, gen).to(device);
    Tensor xf = x0.to(device).detach().set_requires_grad();
    Tensor xp = x0.to(device).detach().set_requires_grad();
    Tensor yf, yp;
    {
      AutocastGuard guard(DType::bf16);
      yf = fused->forward(xf);
      yp = linear(plain->input_fake_quant().forward(xp),
                  plain->weight_fake_quant().forward(plain->weight()), plain->bias());
    }
    sum(mul(yf, r)).backward();
    sum(mul(yp, r)).backward();
    EXPECT_EQ(differing_bits(yf, yp), 0) << "output";
    EXPECT_EQ(differing_bits(xf.grad(), xp.grad()), 0) << "input gradient";
    EXPECT_EQ(differing_bits(fused->weight().grad(), plain->weight().grad()), 0) << "weight grad";
    EXPECT_EQ(differing_bits(fused->bias().grad(), plain->bias().grad()), 0) << "bias gradient";
    const auto bf = fused->named_buffers(), bp = plain->named_buffers();
    ASSERT_EQ(bf.size(), bp.size());
    for (size_t i = 0; i < bf.size(); ++i)
      EXPECT_EQ(differing_bits(bf[i].second, bp[i].second), 0) << bf[i].first;
  }
  // The shortcut is taken: the quantizers hand back bf16 for the GEMM.
  AutocastGuard guard(DType::bf16);
  const Tensor probe = Tensor::randn({3, 64}, gen).to(device);
  EXPECT_EQ(fused->input_fake_quant().forward_for_gemm(probe, DType::bf16).dtype(), DType::bf16);
}

}  // namespace octet::testing
