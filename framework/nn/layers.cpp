#include "framework/nn/layers.h"

#include <cmath>

#include "framework/functional/conv.h"
#include "framework/functional/linear.h"
#include "framework/functional/norm.h"

namespace octet::nn {
namespace {

Tensor init_weight(const Shape& shape, int64_t fan_in, Generator& gen, Init init) {
  if (init.std >= 0) return Tensor::randn(shape, gen, DType::f32, init.std);
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return Tensor::rand(shape, gen, DType::f32, -bound, bound);
}

Tensor init_bias(int64_t n, int64_t fan_in, Generator& gen, Init init) {
  if (init.std >= 0) return Tensor::zeros({n});
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return Tensor::rand({n}, gen, DType::f32, -bound, bound);
}

}  // namespace

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, Generator& gen, Init init)
    : in_(in_features), out_(out_features) {
  weight_ = register_parameter("weight", init_weight({out_, in_}, in_, gen, init));
  if (bias) bias_ = register_parameter("bias", init_bias(out_, in_, gen, init));
}

Linear::Linear(Tensor weight, Tensor bias) {
  OCTET_CHECK(weight.dim() == 2 && (!bias.defined() || bias.shape() == Shape{weight.size(0)}),
              "Linear", "weight ", weight.str(), " and bias ", bias.defined() ? bias.str() : "-",
              " do not form a layer");
  out_ = weight.size(0);
  in_ = weight.size(1);
  weight_ = register_parameter("weight", weight);
  if (bias.defined()) bias_ = register_parameter("bias", bias);
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight_, bias_); }

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride,
               int64_t padding, Generator& gen)
    : stride_(stride), padding_(padding) {
  const int64_t fan_in = in_channels * kernel * kernel;
  weight_ = register_parameter(
      "weight", init_weight({out_channels, in_channels, kernel, kernel}, fan_in, gen, {}));
  bias_ = register_parameter("bias", init_bias(out_channels, fan_in, gen, {}));
}

Conv2d::Conv2d(Tensor weight, Tensor bias, int64_t stride, int64_t padding)
    : stride_(stride), padding_(padding) {
  OCTET_CHECK(weight.dim() == 4 && bias.defined() && bias.shape() == Shape{weight.size(0)},
              "Conv2d", "weight ", weight.str(), " and bias ", bias.defined() ? bias.str() : "-",
              " do not form a layer");
  weight_ = register_parameter("weight", weight);
  bias_ = register_parameter("bias", bias);
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight_, bias_, stride_, padding_); }

Embedding::Embedding(int64_t num, int64_t dim, Generator& gen, double std) {
  weight_ = register_parameter("weight", Tensor::randn({num, dim}, gen, DType::f32, std));
}

Embedding::Embedding(Tensor weight) {
  OCTET_CHECK(weight.dim() == 2, "Embedding", "needs a [num, dim] table, got ", weight.str());
  weight_ = register_parameter("weight", std::move(weight));
}

Tensor Embedding::forward(const Tensor& indices) { return embedding(indices, weight_); }

LayerNorm::LayerNorm(int64_t dim, double eps) : eps_(eps) {
  weight_ = register_parameter("weight", Tensor::ones({dim}));
  bias_ = register_parameter("bias", Tensor::zeros({dim}));
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, weight_, bias_, eps_); }

RMSNorm::RMSNorm(int64_t dim, double eps) : eps_(eps) {
  weight_ = register_parameter("weight", Tensor::ones({dim}));
}

Tensor RMSNorm::forward(const Tensor& x) { return rms_norm(x, weight_, eps_); }

}  // namespace octet::nn
