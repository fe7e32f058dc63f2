#pragma once
// Shared helpers for the gradcheck suites: random f64 leaves (contiguous or not) and an assertion.
#include <gtest/gtest.h>

#include "framework/tensor/gradcheck.h"

namespace octet::testing {

// A random f64 leaf that requires grad.
inline Tensor leaf(const Shape& shape, Generator& gen, double scale = 1.0) {
  return Tensor::randn(shape, gen, DType::f64, scale).set_requires_grad();
}

// A random f64 leaf with the given shape whose memory is transposed (last two dims swapped), so
// ops see a non-contiguous view.
inline Tensor strided_leaf(const Shape& shape, Generator& gen) {
  Shape swapped = shape;
  std::swap(swapped[swapped.size() - 1], swapped[swapped.size() - 2]);
  Tensor base = Tensor::randn(swapped, gen, DType::f64);
  Tensor v = base.transpose(-1, -2).detach();
  v.set_requires_grad();
  return v;
}

inline void expect_gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                             const std::vector<Tensor>& inputs, double tolerance = 1e-6) {
  GradcheckResult r = gradcheck(f, inputs, 1e-6, tolerance);
  EXPECT_TRUE(r.ok) << "max error " << r.max_error << " at " << r.worst;
}

}  // namespace octet::testing
