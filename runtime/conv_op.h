#pragma once
// A deployed 2-D convolution (NCHW, square kernel): each output pixel's receptive field becomes one
// row (im2row), so the convolution is one LinearOp over [pixels, C*K*K] and runs on the same int8 /
// fp8 / f32 kernels as a linear layer. Padding taps read 0.0, which every spec quantizes exactly
// (to the zero point), so quantizing the rows equals quantizing the image first.
#include <cstdint>
#include <string>

#include "runtime/activation_quantizer.h"
#include "runtime/linear_op.h"

namespace octet::runtime {

class Conv2dOp {
 public:
  Conv2dOp() = default;
  static Conv2dOp load(const ModelFile& file, const std::string& name, int64_t in_channels,
                       int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding);

  int64_t out_size(int64_t in_size) const {
    return (in_size + 2 * padding_ - kernel_) / stride_ + 1;
  }
  // x [n, C, h, w] -> y [n, O, out_size(h), out_size(w)], both contiguous.
  void forward(const float* x, int64_t n, int64_t h, int64_t w, float* y) const;
  const LinearOp& linear() const { return linear_; }
  std::string describe() const;

 private:
  int64_t in_ = 0, out_ = 0, kernel_ = 0, stride_ = 1, padding_ = 0;
  LinearOp linear_;
  // Inputs whose scales are not per tensor (per token of an NCHW image, per channel) cannot be
  // quantized row by row after im2row: they are fake-quantized as images first.
  ActivationQuantizer image_quantizer_;
};

}  // namespace octet::runtime
