#pragma once
// The building blocks models are made of. Each holds its parameters and calls one functional op.
#include "framework/nn/module.h"
#include "framework/random.h"

namespace octet::nn {

// Parameter initialisation. kDefault follows PyTorch's Linear/Conv2d: U(-1/sqrt(fan_in), +).
struct Init {
  double std = -1;  // < 0: PyTorch default uniform; >= 0: normal(0, std), biases zero
};

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias, Generator& gen, Init init = {});
  // Adopts existing parameters (the same tensors, not copies), so a twin that replaces a layer
  // keeps the optimizer's and the checkpoint's view of its weights. weight [out, in], bias [out]
  // or undefined.
  Linear(Tensor weight, Tensor bias);
  std::string type_name() const override { return "Linear"; }
  virtual Tensor forward(const Tensor& x);
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without bias
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 protected:
  int64_t in_, out_;
  Tensor weight_, bias_;
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding,
         Generator& gen);
  // Adopts existing parameters, as Linear's does: weight [out, in, k, k], bias [out].
  Conv2d(Tensor weight, Tensor bias, int64_t stride, int64_t padding);
  std::string type_name() const override { return "Conv2d"; }
  virtual Tensor forward(const Tensor& x);
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  int64_t stride() const { return stride_; }
  int64_t padding() const { return padding_; }

 protected:
  int64_t stride_, padding_;
  Tensor weight_, bias_;
};

class Embedding : public Module {
 public:
  Embedding(int64_t num, int64_t dim, Generator& gen, double std = 0.02);
  // Adopts an existing [num, dim] table (the same tensor: QAT twins keep the parameter's name
  // and identity for the optimizer and checkpoints).
  explicit Embedding(Tensor weight);
  std::string type_name() const override { return "Embedding"; }
  virtual Tensor forward(const Tensor& indices);
  const Tensor& weight() const { return weight_; }

 protected:
  Tensor weight_;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5);
  std::string type_name() const override { return "LayerNorm"; }
  Tensor forward(const Tensor& x);
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  double eps_;
  Tensor weight_, bias_;
};

class RMSNorm : public Module {
 public:
  explicit RMSNorm(int64_t dim, double eps = 1e-6);
  std::string type_name() const override { return "RMSNorm"; }
  Tensor forward(const Tensor& x);
  const Tensor& weight() const { return weight_; }

 private:
  double eps_;
  Tensor weight_;
};

}  // namespace octet::nn
