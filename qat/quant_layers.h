#pragma once
// The fake-quant twins that `prepare` puts in place of Linear and Conv2d. A twin IS a Linear /
// Conv2d (it fits the same Child<> slot and adopts the same weight tensors), plus two
// FakeQuantizer children: "weight_fake_quant" on its weight and "input_fake_quant" on its input.
#include <memory>

#include "framework/nn/layers.h"
#include "qat/fake_quantizer.h"
#include "qat/layer_swap.h"

namespace octet::qat {

struct LayerQuantConfig {
  // Weights: int8 symmetric per output channel, scales from the current weights at each step.
  TensorQuantConfig weight{
      quant::QuantSpec::int8_symmetric().per_channel(0).with_source(quant::ScaleSource::kCurrent),
      {},
      Ste::kClipped};
  // Inputs: int8 symmetric per tensor, moving-average min-max observer.
  TensorQuantConfig input{
      quant::QuantSpec::int8_symmetric(), {ObserverKind::kMovingAverageMinMax}, Ste::kClipped};
};

// The parts every twin shares.
class QuantTwin : public PreparedLayer {
 public:
  FakeQuantizer& weight_fake_quant() const { return *weight_fq_; }
  FakeQuantizer& input_fake_quant() const { return *input_fq_; }
  const LayerQuantConfig& quant_config() const { return config_; }

 protected:
  explicit QuantTwin(const LayerQuantConfig& config) : config_(config) {}
  LayerQuantConfig config_;
  nn::Child<FakeQuantizer> weight_fq_, input_fq_;
};

class QuantLinear : public nn::Linear, public QuantTwin {
 public:
  QuantLinear(const nn::Linear& source, const LayerQuantConfig& config);
  std::string type_name() const override { return "QuantLinear"; }
  Tensor forward(const Tensor& x) override;
};

class QuantConv2d : public nn::Conv2d, public QuantTwin {
 public:
  QuantConv2d(const nn::Conv2d& source, const LayerQuantConfig& config);
  std::string type_name() const override { return "QuantConv2d"; }
  Tensor forward(const Tensor& x) override;
};

}  // namespace octet::qat
