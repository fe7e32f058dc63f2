#pragma once
// The CUDA twins of ops/cpu/conv.h: 2-D convolution on NCHW views as im2col + GEMMs through
// cuda::matmul (cuBLASLt), with the CPU's geometry struct, arguments and column layout.
#include <cstdint>

#include "ops/cpu/conv.h"
#include "ops/view.h"

namespace octet::cuda {

// cpu::conv2d_geometry's checks and result for views on one CUDA device.
cpu::Conv2dGeometry conv2d_geometry(const View& x, const View& weight, int64_t stride,
                                    int64_t padding);

// x [B, C, H, W] -> cols [C*KH*KW, B*OH*OW] (both contiguous), zeros for taps in the padding.
void im2col(const View& x, const cpu::Conv2dGeometry& g, const View& cols);
// The adjoint: dx = every column entry summed back onto its pixel, in the CPU's tap order
// (one thread per pixel, so no atomics and the same sums as the CPU); overwrites dx.
void col2im(const View& cols, const cpu::Conv2dGeometry& g, const View& dx);

// out [N, O, OH, OW] = conv(x, weight) + bias. The bias is added after the GEMM (the CPU folds it
// into the GEMM as an extra row), so the two differ by rounding only.
void conv2d_forward(const View& x, const View& weight, const View* bias, const View& out,
                    int64_t stride, int64_t padding);
// Gradients of conv2d_forward; each output optional (nullptr) and overwritten. grad_bias sums in
// double as the CPU does.
void conv2d_backward(const View& x, const View& weight, const View& grad_out, int64_t stride,
                     int64_t padding, const View* grad_x, const View* grad_weight,
                     const View* grad_bias);

}  // namespace octet::cuda
