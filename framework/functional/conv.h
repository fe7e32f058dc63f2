#pragma once
// 2-D convolution (im2col + the oneDNN GEMM) and max pooling, NCHW.
#include "framework/tensor/tensor.h"

namespace octet {

// x [N, C, H, W], weight [O, C, KH, KW], bias [O] or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride = 1,
              int64_t padding = 0);
// Max over kernel x kernel windows; the gradient goes to the (first) arg-max of each window.
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0 /* = kernel */);

}  // namespace octet
