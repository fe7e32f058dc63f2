#pragma once
// Optimizers over named parameters, so their state can be checkpointed by name.
#include <string>
#include <vector>

#include "framework/nn/module.h"

namespace octet::optim {

class Optimizer {
 public:
  explicit Optimizer(nn::NamedTensors params);
  virtual ~Optimizer() = default;
  // One update from the parameters' .grad (parameters without a grad are skipped).
  void step();
  void zero_grad();
  void set_lr(double lr) { lr_ = lr; }
  double lr() const { return lr_; }
  int64_t steps() const { return steps_; }
  // Everything step() depends on besides the parameters: state tensors by name (e.g.
  // "exp_avg.blocks.0.fc.weight", live handles that a checkpoint restores in place) and the step
  // count.
  virtual nn::NamedTensors state() const = 0;
  void set_steps(int64_t steps) { steps_ = steps; }
  const nn::NamedTensors& params() const { return params_; }

 protected:
  // Updates parameter `index` in place from its (contiguous f32) gradient.
  virtual void update(size_t index, const Tensor& param, const Tensor& grad) = 0;

  nn::NamedTensors params_;
  double lr_ = 1e-3;
  int64_t steps_ = 0;
};

struct AdamWOptions {
  double lr = 3e-4, beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
  // Parameters with fewer dimensions than this (biases, norm gains) get no weight decay.
  int64_t decay_min_dim = 2;
};

class AdamW : public Optimizer {
 public:
  AdamW(nn::NamedTensors params, AdamWOptions options);
  nn::NamedTensors state() const override;

 private:
  void update(size_t index, const Tensor& param, const Tensor& grad) override;
  AdamWOptions opt_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
};

struct SgdOptions {
  double lr = 0.01, momentum = 0.9, weight_decay = 0.0;
  bool nesterov = false;
};

class Sgd : public Optimizer {
 public:
  Sgd(nn::NamedTensors params, SgdOptions options);
  nn::NamedTensors state() const override;

 private:
  void update(size_t index, const Tensor& param, const Tensor& grad) override;
  SgdOptions opt_;
  std::vector<Tensor> momentum_;
};

// Linear warm-up to max_lr over `warmup` steps, then cosine decay to min_lr at `total`.
struct WarmupCosine {
  double max_lr, min_lr;
  int64_t warmup, total;
  double at(int64_t step) const;
};

// Scales all gradients so their global L2 norm is at most max_norm; returns the norm before.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

// The same clipping without waiting for a GPU (a training step then synchronises once, at its
// end): where every gradient lives on one CUDA device the norm and the scale stay there and the
// gradients are scaled in place by a kernel that writes nothing unless the norm exceeds max_norm;
// elsewhere this is clip_grad_norm. The gradients come out bitwise as clip_grad_norm leaves them.
void clip_grad_norm_nowait(const std::vector<Tensor>& params, double max_norm);

}  // namespace octet::optim
