#pragma once
// Checks a differentiable function's backward against central finite differences, in f64.
#include <functional>
#include <string>
#include <vector>

#include "framework/tensor/tensor.h"

namespace octet {

struct GradcheckResult {
  bool ok = false;
  // max over elements of |analytic - numeric| / max(1, |numeric|)
  double max_error = 0;
  std::string worst;  // which input and element, for the failure message
};

// f maps inputs (f64 leaves; non-contiguous views allowed) to any f64 tensor. The output is
// contracted with a fixed random cotangent so every output element is exercised.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, double eps = 1e-6,
                          double tolerance = 1e-6, uint64_t seed = 1);

}  // namespace octet
