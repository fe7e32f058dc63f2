#include "ops/cpu/optimizer_step.h"

#include <cmath>

namespace octet::cpu {

void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n,
                const AdamWHyper& h) {
  const float bc1 = 1.0f - std::pow(h.beta1, static_cast<float>(h.step));
  const float bc2 = 1.0f - std::pow(h.beta2, static_cast<float>(h.step));
  const float step_size = h.lr / bc1;
  const float inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
  const float decay = 1.0f - h.lr * h.weight_decay;
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    m[i] = h.beta1 * m[i] + (1.0f - h.beta1) * g;
    v[i] = h.beta2 * v[i] + (1.0f - h.beta2) * g * g;
    const float denom = std::sqrt(v[i]) * inv_sqrt_bc2 + h.eps;
    param[i] = param[i] * decay - step_size * m[i] / denom;
  }
}

void sgd_step(float* param, const float* grad, float* buf, int64_t n, const SgdHyper& h) {
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    float g = grad[i] + h.weight_decay * param[i];
    if (h.momentum != 0.0f) {
      buf[i] = h.first_step ? g : h.momentum * buf[i] + g;
      g = h.nesterov ? g + h.momentum * buf[i] : buf[i];
    }
    param[i] -= h.lr * g;
  }
}

double sum_of_squares(const float* x, int64_t n) {
  double acc = 0;
#pragma omp parallel for simd reduction(+ : acc) schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(x[i]) * x[i];
  return acc;
}

}  // namespace octet::cpu
