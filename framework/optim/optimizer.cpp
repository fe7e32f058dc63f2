#include "framework/optim/optimizer.h"

#include <cmath>
#include <map>
#include <set>

#include "framework/functional/arithmetic.h"
#include "framework/tensor/autograd.h"
#include "ops/cpu/optimizer_step.h"
#include "ops/cuda/optimizer_step.h"
#include "ops/on_device.h"

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

// State lives on its parameter's device: created there, and moved after it when the model was
// moved (Module::to) after the optimizer was built. In place, so state() handles stay live.
void follow(const Tensor& p, const std::vector<Tensor>& state) {
  if (state.front().device() != p.device()) nn::move_in_place(state, p.device());
}

// Device pointers of an update on CUDA; the gradient must be f32 like its parameter.
template <typename T>
T* device_ptr(const Tensor& t) {
  OCTET_CHECK(t.dtype() == DType::f32, "optim", "expected f32 on ", t.device().str(), ", got ",
              t.str());
  return static_cast<T*>(t.view().data);
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
    exp_avg_.push_back(Tensor::zeros(p.shape(), DType::f32, p.device()));
    exp_avg_sq_.push_back(Tensor::zeros(p.shape(), DType::f32, p.device()));
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
  follow(p, {exp_avg_[i], exp_avg_sq_[i]});
  const Device dev = common_device("adamw", {p.device(), g.device()});
  if (on_cuda(dev)) {
    cuda::adamw_step(device_ptr<float>(p), device_ptr<const float>(g),
                     device_ptr<float>(exp_avg_[i]), device_ptr<float>(exp_avg_sq_[i]), p.numel(),
                     h, dev.index);
    return;
  }
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
  for (const auto& [name, p] : params_)
    momentum_.push_back(Tensor::zeros(p.shape(), DType::f32, p.device()));
}

void Sgd::update(size_t i, const Tensor& p, const Tensor& g) {
  cpu::SgdHyper h{static_cast<float>(lr_), static_cast<float>(opt_.momentum),
                  static_cast<float>(opt_.weight_decay), opt_.nesterov, steps_ == 1};
  follow(p, {momentum_[i]});
  const Device dev = common_device("sgd", {p.device(), g.device()});
  if (on_cuda(dev)) {
    cuda::sgd_step(device_ptr<float>(p), device_ptr<const float>(g),
                   device_ptr<float>(momentum_[i]), p.numel(), h, dev.index);
    return;
  }
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
  const double progress = static_cast<double>(step - warmup) /
                          static_cast<double>(std::max<int64_t>(1, total - warmup));
  return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + std::cos(M_PI * progress));
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  NoGradGuard no_grad;
  double total = 0;
  // Gradients on a GPU add into one f64 scalar per device, read back once at the end.
  std::vector<Tensor> device_sums;
  for (const auto& p : params) {
    Tensor g = grad_of(p);
    if (!g.defined()) continue;
    if (!on_cuda(g.device())) {
      total += cpu::sum_of_squares(g.data<float>(), g.numel());
      continue;
    }
    Tensor* acc = nullptr;
    for (Tensor& s : device_sums)
      if (s.device() == g.device()) acc = &s;
    if (!acc) acc = &device_sums.emplace_back(Tensor::zeros({}, DType::f64, g.device()));
    cuda::sum_of_squares_into(device_ptr<const float>(g), g.numel(),
                              static_cast<double*>(acc->view().data), g.device().index);
  }
  for (const Tensor& s : device_sums) total += s.item();
  const double norm = std::sqrt(total);
  if (norm > max_norm && norm > 0) {
    const double scale = max_norm / (norm + 1e-6);
    // Out of place: gradient tensors may be shared between parameters (see autograd.cpp).
    for (Tensor p : params)
      if (p.grad().defined()) p.set_grad(mul(p.grad(), scale));
  }
  return norm;
}

void clip_grad_norm_nowait(const std::vector<Tensor>& params, double max_norm) {
  std::vector<Tensor> grads;
  bool one_gpu = true;
  for (const Tensor& p : params) {
    if (!p.grad().defined()) continue;
    grads.push_back(p.grad());
    one_gpu = one_gpu && on_cuda(grads.back().device()) &&
              grads.back().device() == grads.front().device();
  }
  if (grads.empty() || !one_gpu) {
    clip_grad_norm(params, max_norm);
    return;
  }
  NoGradGuard no_grad;
  const Device dev = grads.front().device();
  Tensor total = Tensor::zeros({}, DType::f64, dev);
  for (const Tensor& p : params) {
    const Tensor g = grad_of(p);
    if (g.defined())
      cuda::sum_of_squares_into(device_ptr<const float>(g), g.numel(), total.view().ptr<double>(),
                                dev.index);
  }
  Tensor coef = Tensor::empty({}, DType::f32, dev);
  cuda::clip_coefficient(total.view().ptr<const double>(), max_norm, device_ptr<float>(coef),
                         dev.index);
  // A gradient tensor may be shared between parameters (see autograd.cpp): each is scaled once,
  // in place, where no other gradient views its storage; anything else gets a scaled copy.
  std::map<const Storage*, std::set<const TensorImpl*>> holders;
  for (const Tensor& g : grads) holders[g.impl()->storage.get()].insert(g.impl());
  std::set<const TensorImpl*> scaled;
  for (Tensor p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    if (g.is_contiguous() && holders[g.impl()->storage.get()].size() == 1) {
      if (scaled.insert(g.impl()).second)
        cuda::scale_in_place(device_ptr<float>(g), g.numel(), device_ptr<const float>(coef),
                             dev.index);
    } else {
      p.set_grad(mul(g, coef));
    }
  }
}

}  // namespace octet::optim
