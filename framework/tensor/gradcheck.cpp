#include "framework/tensor/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "framework/functional/arithmetic.h"
#include "framework/tensor/autograd.h"

namespace octet {
namespace {

// Address of element `k` (row-major order) of a strided f64 tensor.
double* element(const Tensor& t, int64_t k) {
  int64_t off = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    off += (k % t.size(d)) * t.strides()[d];
    k /= t.size(d);
  }
  return t.data<double>() + off;
}

double contract(const Tensor& y, const Tensor& w) {
  NoGradGuard no_grad;
  return sum(mul(y, w)).item();
}

}  // namespace

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, double eps, double tolerance,
                          uint64_t seed) {
  for (const auto& in : inputs)
    OCTET_CHECK(in.dtype() == DType::f64 || !in.requires_grad(), "gradcheck",
                "inputs must be f64, got ", in.str());
  for (const auto& in : inputs)
    if (in.requires_grad()) in.impl()->grad.reset();
  Tensor y = f(inputs);
  OCTET_CHECK(y.dtype() == DType::f64, "gradcheck", "output must be f64, got ", y.str());
  Generator gen(seed);
  Tensor w = Tensor::randn(y.shape(), gen, DType::f64);
  y.backward(w);

  GradcheckResult result;
  result.ok = true;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.requires_grad()) continue;
    Tensor analytic = x.grad();
    for (int64_t k = 0; k < x.numel(); ++k) {
      double* p = element(x, k);
      const double saved = *p;
      *p = saved + eps;
      const double plus = contract(f(inputs), w);
      *p = saved - eps;
      const double minus = contract(f(inputs), w);
      *p = saved;
      const double numeric = (plus - minus) / (2 * eps);
      const double a = analytic.defined() ? *element(analytic, k) : 0.0;
      const double err = std::abs(a - numeric) / std::max(1.0, std::abs(numeric));
      if (err > result.max_error) {
        result.max_error = err;
        std::ostringstream os;
        os << "input " << i << " " << x.str() << " element " << k << ": analytic " << a
           << " numeric " << numeric;
        result.worst = os.str();
      }
    }
  }
  result.ok = result.max_error <= tolerance;
  return result;
}

}  // namespace octet
