#include "framework/optim/optimizer.h"

#include <cmath>

#include "framework/functional/arithmetic.h"
#include "framework/tensor/autograd.h"
#include "ops/cpu/optimizer_step.h"

namespace octet::optim {
namespace {

void check_f32(const std::string& name, const Tensor& p) {
  OCTET_CHECK(p.dtype() == DType::f32 && p.is_contiguous(), "optim", "parameter '", name,
              "' must be contiguous f32, got ", p.str());
}

// The gradient as contiguous f32 (gradients of views may arrive strided).
Tensor grad_of(const Tensor& p) {
  Tensor g = p.grad();
  return g.defined() && !g.is_contiguous() ? g.contiguous() : g;
}

}  // namespace

Optimizer::Optimizer(nn::NamedTensors params) : params_(std::move(params)) {
  for (const auto& [name, p] : params_) check_f32(name, p);
}

void Optimizer::step() {
  NoGradGuard no_grad;
  ++steps_;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second;
    Tensor g = grad_of(p);
    if (g.defined()) update(i, p, g);
  }
}

void Optimizer::zero_grad() {
  for (auto& [name, p] : params_) p.zero_grad();
}

AdamW::AdamW(nn::NamedTensors params, AdamWOptions options)
    : Optimizer(std::move(params)), opt_(options) {
  lr_ = opt_.lr;
  for (const auto& [name, p] : params_) {
    exp_avg_.push_back(Tensor::zeros(p.shape()));
    exp_avg_sq_.push_back(Tensor::zeros(p.shape()));
  }
}

void AdamW::update(size_t i, const Tensor& p, const Tensor& g) {
  const bool decay = p.dim() >= opt_.decay_min_dim;
  cpu::AdamWHyper h{static_cast<float>(lr_),
                    static_cast<float>(opt_.beta1),
                    static_cast<float>(opt_.beta2),
                    static_cast<float>(opt_.eps),
                    decay ? static_cast<float>(opt_.weight_decay) : 0.0f,
                    steps_};
  cpu::adamw_step(p.data<float>(), g.data<float>(), exp_avg_[i].data<float>(),
                  exp_avg_sq_[i].data<float>(), p.numel(), h);
}

nn::NamedTensors AdamW::state() const {
  nn::NamedTensors out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back("exp_avg." + params_[i].first, exp_avg_[i]);
    out.emplace_back("exp_avg_sq." + params_[i].first, exp_avg_sq_[i]);
  }
  return out;
}

Sgd::Sgd(nn::NamedTensors params, SgdOptions options)
    : Optimizer(std::move(params)), opt_(options) {
  lr_ = opt_.lr;
  for (const auto& [name, p] : params_) momentum_.push_back(Tensor::zeros(p.shape()));
}

void Sgd::update(size_t i, const Tensor& p, const Tensor& g) {
  cpu::SgdHyper h{static_cast<float>(lr_), static_cast<float>(opt_.momentum),
                  static_cast<float>(opt_.weight_decay), opt_.nesterov, steps_ == 1};
  cpu::sgd_step(p.data<float>(), g.data<float>(), momentum_[i].data<float>(), p.numel(), h);
}

nn::NamedTensors Sgd::state() const {
  nn::NamedTensors out;
  for (size_t i = 0; i < params_.size(); ++i)
    out.emplace_back("momentum." + params_[i].first, momentum_[i]);
  return out;
}

double WarmupCosine::at(int64_t step) const {
  if (step < warmup) return max_lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (step >= total) return min_lr;
  const double progress =
      static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
  return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + std::cos(M_PI * progress));
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  NoGradGuard no_grad;
  double total = 0;
  for (const auto& p : params) {
    Tensor g = grad_of(p);
    if (g.defined()) total += cpu::sum_of_squares(g.data<float>(), g.numel());
  }
  const double norm = std::sqrt(total);
  if (norm > max_norm && norm > 0) {
    const double scale = max_norm / (norm + 1e-6);
    // Out of place: gradient tensors may be shared between parameters (see autograd.cpp).
    for (Tensor p : params)
      if (p.grad().defined()) p.set_grad(mul(p.grad(), scale));
  }
  return norm;
}

}  // namespace octet::optim
