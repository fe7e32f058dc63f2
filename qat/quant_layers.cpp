#include "qat/quant_layers.h"

#include <optional>

#include "framework/autocast.h"
#include "framework/functional/conv.h"
#include "framework/functional/linear.h"
#include "framework/functional/norm.h"
#include "framework/parallel/statistics_sync.h"

namespace octet::qat {
namespace {

int64_t weight_scale_count(const TensorQuantConfig& c, const Tensor& weight) {
  return quant::scale_layout(c.spec, weight.shape()).count;
}

// Inputs are observed per tensor (one scale) or quantized per token from each tensor; a
// per-channel input scale would need the channel count, which only convolutions know.
int64_t input_scale_count(const char* layer, const TensorQuantConfig& c, int64_t channels) {
  using quant::Granularity;
  OCTET_CHECK(c.spec.granularity != Granularity::kPerGroup, layer,
              "per-group input quantization is not supported: ", c.spec.str());
  if (c.spec.granularity == Granularity::kPerToken) {
    OCTET_CHECK(c.spec.scale_source == quant::ScaleSource::kCurrent, layer,
                "per-token input scales come from each tensor (scale source current), got ",
                c.spec.str());
  }
  return c.spec.granularity == Granularity::kPerChannel ? channels : 1;
}

// Weights are identical on every rank (data parallelism broadcasts them and applies the same
// averaged gradients), so their statistics need no cross-rank reduction.
Tensor fake_quant_weight(FakeQuantizer& quantizer, const Tensor& weight,
                         std::optional<DType> gemm_dtype = std::nullopt) {
  parallel::LocalStatisticsScope local;
  return gemm_dtype ? quantizer.forward_for_gemm(weight, *gemm_dtype) : quantizer.forward(weight);
}

// The dtype a linear layer's GEMM takes f32 operands in: bf16 under autocast, else none (f32).
std::optional<DType> linear_gemm_dtype(const Tensor& x) {
  return x.dtype() == DType::f32 ? autocast_dtype() : std::nullopt;
}

}  // namespace

QuantLinear::QuantLinear(const nn::Linear& source, const LayerQuantConfig& config)
    : nn::Linear(source.weight(), source.bias()), QuantTwin(config) {
  OCTET_CHECK(
      config.input.spec.granularity != quant::Granularity::kPerChannel, "QuantLinear",
      "per-channel input quantization of a Linear is not supported: ", config.input.spec.str());
  weight_fq_ = register_module(
      "weight_fake_quant",
      std::make_shared<FakeQuantizer>(config.weight, weight_scale_count(config.weight, weight_)));
  if (config.quantize_input)
    input_fq_ = register_module(
        "input_fake_quant", std::make_shared<FakeQuantizer>(
                                config.input, input_scale_count("QuantLinear", config.input, in_)));
}

// Under autocast the fake-quantizers hand the GEMM its bf16 operands directly: one pass over the
// input instead of three (quantize, cast, observe), the same values and gradients.
Tensor QuantLinear::forward(const Tensor& x) {
  const std::optional<DType> gemm_dtype = linear_gemm_dtype(x);
  Tensor input = x;
  if (quantizes_input()) {
    input = gemm_dtype ? input_fq_->forward_for_gemm(x, *gemm_dtype) : input_fq_->forward(x);
  }
  return linear(input, fake_quant_weight(*weight_fq_, weight_, gemm_dtype), bias_);
}

QuantConv2d::QuantConv2d(const nn::Conv2d& source, const LayerQuantConfig& config)
    : nn::Conv2d(source.weight(), source.bias(), source.stride(), source.padding()),
      QuantTwin(config) {
  OCTET_CHECK(config.input.spec.granularity != quant::Granularity::kPerChannel ||
                  config.input.spec.axis == 1,
              "QuantConv2d", "per-channel inputs of a convolution are per axis 1 (NCHW), got ",
              config.input.spec.str());
  weight_fq_ = register_module(
      "weight_fake_quant",
      std::make_shared<FakeQuantizer>(config.weight, weight_scale_count(config.weight, weight_)));
  if (config.quantize_input)
    input_fq_ = register_module(
        "input_fake_quant",
        std::make_shared<FakeQuantizer>(
            config.input, input_scale_count("QuantConv2d", config.input, weight_.size(1))));
}

Tensor QuantConv2d::forward(const Tensor& x) {
  return conv2d(quantizes_input() ? input_fq_->forward(x) : x,
                fake_quant_weight(*weight_fq_, weight_), bias_, stride_, padding_);
}

QuantEmbedding::QuantEmbedding(const nn::Embedding& source, const TensorQuantConfig& weight)
    : nn::Embedding(source.weight()) {
  weight_fq_ =
      register_module("weight_fake_quant",
                      std::make_shared<FakeQuantizer>(weight, weight_scale_count(weight, weight_)));
}

Tensor QuantEmbedding::forward(const Tensor& indices) {
  return embedding(indices, fake_quant_weight(*weight_fq_, weight_));
}

TensorQuantConfig int8_rows_config() {
  return {
      quant::QuantSpec::int8_symmetric().per_channel(0).with_source(quant::ScaleSource::kCurrent),
      {},
      Ste::kClipped};
}

}  // namespace octet::qat
