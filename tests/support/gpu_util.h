#pragma once
// For tests of the CUDA backend (label `gpu`): they skip cleanly where no device exists, so CI on
// a CPU machine builds and lists them, and a lent GPU machine runs them with `ctest -L gpu`.
#include <gtest/gtest.h>

#include "framework/tensor/tensor.h"
#include "ops/cuda/runtime.h"

// Skips the test (reported by ctest as skipped, not passed) unless a CUDA device is usable.
#define OCTET_REQUIRE_GPU()                                                         \
  do {                                                                              \
    if (!::octet::cuda::available())                                                \
      GTEST_SKIP() << (::octet::cuda::compiled() ? "no CUDA device on this machine" \
                                                 : "octet was built without CUDA"); \
  } while (0)

namespace octet::testing {

inline Device gpu0() { return Device{DeviceType::cuda, 0}; }

// Largest |a - b| over all elements, both brought to the host as f64.
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> av = a.cpu().to(DType::f64).to_vector<double>();
  const std::vector<double> bv = b.cpu().to(DType::f64).to_vector<double>();
  EXPECT_EQ(av.size(), bv.size());
  double worst = 0;
  for (size_t i = 0; i < av.size() && i < bv.size(); ++i)
    worst = std::max(worst, std::abs(av[i] - bv[i]));
  return worst;
}

}  // namespace octet::testing
