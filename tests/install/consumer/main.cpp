// Built against an installed octet by tests/install/run_consumer.cmake: the README's C++ API in a
// few lines (a Linear layer, forward, backward), with every number checked against arithmetic
// done here by hand. Exits non-zero when anything differs.
#include <cmath>
#include <cstdio>
#include <vector>

#include "framework/functional/arithmetic.h"
#include "framework/nn/layers.h"
#include "ops/quant/fp8.h"
#include "runtime/model_file.h"  // the installed generated protobuf header, through the runtime's

int main() {
  using octet::Tensor;
  octet::Generator gen(7);
  octet::nn::Linear linear(3, 2, /*bias=*/true, gen);
  const std::vector<float> x_values{1, 2, 3, -1, 0.5f, 4};
  const Tensor x = Tensor::from_vector<float>(x_values, {2, 3});
  const Tensor loss = octet::sum(octet::square(linear.forward(x)));  // sum of y^2
  loss.backward();

  const std::vector<float> w = linear.weight().to_vector<float>();
  const std::vector<float> b = linear.bias().to_vector<float>();
  const std::vector<float> dw = linear.weight().grad().to_vector<float>();
  double expected_loss = 0, worst = 0;
  std::vector<double> expected_dw(6, 0.0);
  for (int r = 0; r < 2; ++r) {
    for (int o = 0; o < 2; ++o) {
      double y = b[o];
      for (int i = 0; i < 3; ++i) y += double(w[o * 3 + i]) * x_values[r * 3 + i];
      expected_loss += y * y;
      for (int i = 0; i < 3; ++i) expected_dw[o * 3 + i] += 2 * y * x_values[r * 3 + i];
    }
  }
  for (int k = 0; k < 6; ++k) worst = std::fmax(worst, std::fabs(dw[k] - expected_dw[k]));
  const double loss_error = std::fabs(loss.item() - expected_loss);
  // An FP8 E4M3 round trip from the kernels floor: 1.5 is exact, 500 saturates to 448.
  const auto e4m3 = octet::quant::Fp8Format::kE4M3;
  const float one_and_a_half =
      octet::quant::fp8_decode(octet::quant::fp8_encode(1.5f, e4m3, true), e4m3);
  const float saturated =
      octet::quant::fp8_decode(octet::quant::fp8_encode(500.f, e4m3, true), e4m3);

  std::printf("octet consumer: loss %.6f (expected %.6f), max |dW error| %.3g, fp8 %g %g\n",
              loss.item(), expected_loss, worst, one_and_a_half, saturated);
  const bool ok = loss_error <= 1e-4 * (1 + expected_loss) && worst <= 1e-4 && expected_loss > 0 &&
                  one_and_a_half == 1.5f && saturated == 448.f;
  return ok ? 0 : 1;
}
