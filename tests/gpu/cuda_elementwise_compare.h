#pragma once
// Comparisons of a CUDA result with its CPU twin for the elementwise, reduction and optimizer
// tests: elementwise |gpu - cpu| <= abs + rel * |cpu|, NaN matching NaN, with the worst offender
// named in the failure.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "framework/tensor/tensor.h"

namespace octet::testing {

// Tolerances for one dtype: f32 to a few ulp of the CPU's fast math, f64 to libm's ulp. The f32
// absolute part covers derivatives that cancel: GELU's at x near -5 multiplies 1 - tanh^2 (one
// ulp of tanh near 1 is 1.2e-7 there) by about 9, so one ulp of disagreement is 1e-6.
struct Tol {
  double rel, abs;
};
inline Tol tol_for(DType t) { return t == DType::f64 ? Tol{1e-12, 1e-14} : Tol{1e-5, 4e-6}; }

inline std::vector<double> host_f64(const Tensor& t) {
  return t.cpu().to(DType::f64).to_vector<double>();
}

inline ::testing::AssertionResult all_close(const Tensor& gpu, const Tensor& cpu, Tol tol) {
  if (gpu.shape() != cpu.shape())
    return ::testing::AssertionFailure()
           << "shapes " << shape_str(gpu.shape()) << " vs " << shape_str(cpu.shape());
  const std::vector<double> g = host_f64(gpu), c = host_f64(cpu);
  for (size_t i = 0; i < g.size(); ++i) {
    if (g[i] == c[i] || (std::isnan(c[i]) && std::isnan(g[i]))) continue;  // also infinities
    if (std::isnan(c[i]) != std::isnan(g[i]) ||
        !(std::abs(g[i] - c[i]) <= tol.abs + tol.rel * std::abs(c[i])))
      return ::testing::AssertionFailure()
             << "element " << i << " of " << cpu.str() << ": gpu " << g[i] << " vs cpu " << c[i];
  }
  return ::testing::AssertionSuccess();
}

// Exact equality (NaN equal to NaN): for max/min/argmax and the other exact operations.
inline ::testing::AssertionResult all_equal(const Tensor& gpu, const Tensor& cpu) {
  return all_close(gpu, cpu, Tol{0, 0});
}

}  // namespace octet::testing
