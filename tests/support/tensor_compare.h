#pragma once
// How far a result is from a reference, as one number: ||a - b|| / ||b|| over all elements (f32).
#include <cmath>
#include <vector>

#include "framework/tensor/tensor.h"

namespace octet::testing {

inline double relative_error(const Tensor& a, const Tensor& b) {
  const std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>();
  double num = 0, den = 0;
  for (size_t i = 0; i < av.size(); ++i) {
    num += (static_cast<double>(av[i]) - bv[i]) * (static_cast<double>(av[i]) - bv[i]);
    den += static_cast<double>(bv[i]) * bv[i];
  }
  return std::sqrt(num / den);
}

}  // namespace octet::testing
