// The vectorisable float exp/tanh/sigmoid against libm in double, over their whole useful range.
#include <gtest/gtest.h>

#include <cmath>

#include "ops/cpu/fast_math.h"

namespace octet::cpu {
namespace {

TEST(FastMath, ExpRelativeErrorBelowThreeTenMillionths) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.001953125f) {
    const double ref = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(fast_exp(x) - ref) / ref);
  }
  EXPECT_LT(worst, 3e-7);
  EXPECT_EQ(fast_exp(-200.0f), 0.0f) << "flushes below FLT_MIN";
  EXPECT_EQ(fast_exp(-INFINITY), 0.0f) << "a masked logit contributes nothing";
  EXPECT_TRUE(std::isnan(fast_exp(NAN)));
  EXPECT_TRUE(std::isfinite(fast_exp(200.0f)));
}

TEST(FastMath, TanhAndSigmoidAbsoluteErrorBelowTwoTenMillionths) {
  double worst_tanh = 0, worst_sig = 0, worst_small_rel = 0;
  for (float x = -20.0f; x <= 20.0f; x += 0.0009765625f) {
    const double xd = x;
    worst_tanh = std::max(worst_tanh, std::abs(fast_tanh(x) - std::tanh(xd)));
    worst_sig = std::max(worst_sig, std::abs(fast_sigmoid(x) - 1.0 / (1.0 + std::exp(-xd))));
    if (std::abs(x) > 1e-6f && std::abs(x) < 0.5f)
      worst_small_rel = std::max(worst_small_rel, std::abs(fast_tanh(x) / std::tanh(xd) - 1.0));
  }
  EXPECT_LT(worst_tanh, 2e-7);
  EXPECT_LT(worst_sig, 2e-7);
  EXPECT_LT(worst_small_rel, 1e-6) << "no cancellation near zero";
  EXPECT_EQ(fast_tanh(0.0f), 0.0f);
  EXPECT_EQ(fast_tanh(-30.0f), -1.0f);
}

}  // namespace
}  // namespace octet::cpu
