#pragma once
// FakeQuantizer: the module that fake-quantizes one tensor (a layer's weight or its input) during
// QAT and calibration. It owns where the scale comes from (QuantSpec::scale_source):
//   kObserver / kAmaxHistory  an observer child whose buffers hold the statistics
//   kCurrent                  the tensor's own range at every call (weights; per-token inputs)
//   kLearned                  LSQ parameters `scale` (and `zero_point`), initialised from the
//                             first tensor seen
// and two switches kept as buffers (so they are checkpointed): observing and fake-quantizing.
//
// On a CUDA device (after Module::to) every source runs there without a device->host copy in a
// step (outside data parallelism's statistics all-reduce): observers keep their state on the
// device (observer.h), and the switches, the observer's "observed" flag and LSQ's "initialised"
// flag are read from host memory (host_switch), so the checks a forward makes cost nothing.
#include <memory>
#include <optional>

#include "framework/nn/module.h"
#include "ops/quant/dynamic_scales.h"
#include "qat/fake_quant.h"
#include "qat/observer.h"

namespace octet::qat {

struct TensorQuantConfig {
  quant::QuantSpec spec;
  ObserverOptions observer;  // for kObserver and kAmaxHistory
  Ste ste = Ste::kClipped;
};

class FakeQuantizer : public nn::Module {
 public:
  // channels: the number of scales over the tensors this quantizer will see (1 per tensor; the
  // output channels for per-channel weights). Per-token specs take their scales from each tensor.
  FakeQuantizer(const TensorQuantConfig& config, int64_t channels);
  std::string type_name() const override { return "FakeQuantizer"; }

  // Observes x if observing is on and the module is in training mode, then returns its
  // fake-quantized value if fake-quant is on (else x itself). Differentiable: STE to x, LSQ
  // gradients to the learned scale.
  Tensor forward(const Tensor& x);

  // forward(x) for a GEMM that takes its operands in `compute` (bf16 under autocast, which
  // framework's linear accepts as they are): the fake-quantized values come back already rounded
  // to it, from the pass that quantizes them (the bits a cast of forward(x) would give, with the
  // same f32 gradient). Where fake-quant is off or the scale is learned, forward(x) itself.
  Tensor forward_for_gemm(const Tensor& x, DType compute);

  // The parameters fake-quant uses now (x is needed for kCurrent, where they come from it).
  QParams qparams(const Tensor& x) const;

  void enable_observer(bool on);
  void enable_fake_quant(bool on);
  bool observer_enabled() const;
  bool fake_quant_enabled() const;
  const TensorQuantConfig& config() const { return config_; }
  const quant::QuantSpec& spec() const { return config_.spec; }

 private:
  Tensor quantize(const Tensor& x, std::optional<DType> output);
  QParams current_qparams(const Tensor& x) const;
  QParams current_qparams_cuda(const Tensor& xs, const quant::ScaleLayout& layout,
                               const Shape& shape, const quant::StatisticsMerge& merge) const;

  TensorQuantConfig config_;
  int64_t channels_;
  std::shared_ptr<Observer> observer_;  // also registered as child "observer"
  Tensor observing_, fake_quantizing_;  // f32 scalars, 0 or 1, in host memory (host_switch)
  Tensor scale_, zero_point_;           // kLearned
  Tensor learned_initialized_;          // kLearned: f32 scalar, 0 until the first tensor (host)
};

}  // namespace octet::qat
