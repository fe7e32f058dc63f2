#pragma once
// A small CNN for 28x28 grey images (Fashion-MNIST): two conv-relu-pool stages, then an MLP.
#include "framework/nn/layers.h"

namespace octet::models {

struct CnnConfig {
  int64_t channels1 = 32, channels2 = 64, hidden = 128, classes = 10;
  double dropout = 0.25;
};

class Cnn : public nn::Module {
 public:
  Cnn(const CnnConfig& config, Generator& gen);
  std::string type_name() const override { return "Cnn"; }
  // images [N, 1, 28, 28] f32 -> logits [N, classes]. `gen` drives dropout in training mode.
  Tensor forward(const Tensor& images, Generator& gen);
  const CnnConfig& config() const { return config_; }

 private:
  CnnConfig config_;
  nn::Child<nn::Conv2d> conv1_, conv2_;
  nn::Child<nn::Linear> fc1_, fc2_;
};

}  // namespace octet::models
