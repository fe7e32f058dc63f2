#include "framework/models/cnn.h"

#include "framework/functional/arithmetic.h"
#include "framework/functional/conv.h"
#include "framework/functional/norm.h"

namespace octet::models {

Cnn::Cnn(const CnnConfig& c, Generator& gen) : config_(c) {
  conv1_ = register_module("conv1", std::make_shared<nn::Conv2d>(1, c.channels1, 3, 1, 1, gen));
  conv2_ = register_module("conv2",
                           std::make_shared<nn::Conv2d>(c.channels1, c.channels2, 3, 1, 1, gen));
  fc1_ = register_module("fc1",
                         std::make_shared<nn::Linear>(c.channels2 * 7 * 7, c.hidden, true, gen));
  fc2_ = register_module("fc2", std::make_shared<nn::Linear>(c.hidden, c.classes, true, gen));
}

Tensor Cnn::forward(const Tensor& images, Generator& gen) {
  OCTET_CHECK(images.dim() == 4 && images.size(1) == 1 && images.size(2) == 28 &&
                  images.size(3) == 28,
              "cnn", "expects images [N, 1, 28, 28], got ", images.str());
  Tensor h = max_pool2d(relu(conv1_->forward(images)), 2);
  h = max_pool2d(relu(conv2_->forward(h)), 2);
  h = h.reshape({h.size(0), -1});
  h = dropout(relu(fc1_->forward(h)), config_.dropout, is_training(), gen);
  return fc2_->forward(h);
}

}  // namespace octet::models
