#pragma once
// Fused, in-place parameter updates: one pass over param, grad and state per step.
#include <cstdint>

namespace octet::cpu {

struct AdamWHyper {
  float lr, beta1, beta2, eps, weight_decay;
  int64_t step;  // 1-based, for bias correction
};
// Decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW.
void adamw_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                const AdamWHyper& h);

struct SgdHyper {
  float lr, momentum, weight_decay;
  bool nesterov;
  bool first_step;  // the momentum buffer starts as the first gradient, as in torch.optim.SGD
};
void sgd_step(float* param, const float* grad, float* momentum_buf, int64_t n, const SgdHyper& h);

// Sum of squares, accumulated in double.
double sum_of_squares(const float* x, int64_t n);

}  // namespace octet::cpu
