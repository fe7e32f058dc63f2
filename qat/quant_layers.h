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
  // false: weight-only quantization, the inputs stay f32 (no input quantizer is created). What
  // a logits projection wants: int8 storage without quantizing the activations it amplifies.
  bool quantize_input = true;
};

// The parts every twin shares.
class QuantTwin : public PreparedLayer {
 public:
  FakeQuantizer& weight_fake_quant() const { return *weight_fq_; }
  // Only for twins that quantize their input (quantizes_input()).
  FakeQuantizer& input_fake_quant() const { return *input_fq_; }
  bool quantizes_input() const { return config_.quantize_input; }
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

// The twin of Embedding: weight-only fake-quant of the table, so an exported model can store it
// in 8 bits. Looking up a row of the fake-quantized table is what the runtime's dequantizing
// lookup computes.
class QuantEmbedding : public nn::Embedding, public PreparedLayer {
 public:
  // weight: typically int8 symmetric per row (per-channel on axis 0), current scaling.
  QuantEmbedding(const nn::Embedding& source, const TensorQuantConfig& weight);
  std::string type_name() const override { return "QuantEmbedding"; }
  Tensor forward(const Tensor& indices) override;
  FakeQuantizer& weight_fake_quant() const { return *weight_fq_; }

 private:
  nn::Child<FakeQuantizer> weight_fq_;
};

// int8 symmetric, one scale per row, from the current weights: how embedding tables and a
// weight-only lm_head are stored.
TensorQuantConfig int8_rows_config();

}  // namespace octet::qat
