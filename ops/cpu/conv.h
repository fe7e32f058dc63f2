#pragma once
// 2-D convolution on NCHW views as im2col + one large GEMM per chunk of images.
//
// Layout, chosen so that no operand ever needs a real transpose: a chunk of B images is unfolded
// into columns [C*KH*KW, B*OH*OW] (row k = one (channel, kh, kw) tap, one column per output pixel),
// so the forward GEMM is W [O, C*KH*KW] @ columns -> [O, B*OH*OW]. Going from that to NCHW
// [B, O, OH*OW] only moves contiguous runs of OH*OW values, and the bias is added in the same pass.
// The chunk is sized so its columns stay in cache between the unfold and the GEMM.
#include <cstdint>

#include "ops/view.h"

namespace octet::cpu {

struct Conv2dGeometry {
  int64_t batch = 0, in_channels = 0, height = 0, width = 0;
  int64_t out_channels = 0, kernel_h = 0, kernel_w = 0;
  int64_t stride = 1, padding = 0;
  int64_t out_h = 0, out_w = 0;

  int64_t patch() const { return in_channels * kernel_h * kernel_w; }  // GEMM depth
  int64_t out_pixels() const { return out_h * out_w; }
  Shape output_shape() const { return {batch, out_channels, out_h, out_w}; }
};

// Validates x [N, C, H, W] against weight [O, C, KH, KW] (ranks, dtypes, channels, a kernel that
// fits the padded input) and returns the geometry; errors are tagged "conv2d".
Conv2dGeometry conv2d_geometry(const View& x, const View& weight, int64_t stride, int64_t padding);

// Unfolds images x [B, C, H, W] (contiguous) into cols [C*KH*KW, B*OH*OW] (contiguous);
// taps that fall into the padding read as zero. g gives kernel, stride and padding.
void im2col(const View& x, const Conv2dGeometry& g, const View& cols);
// The adjoint of im2col: dx [B, C, H, W] = the sum of every column entry back onto the pixel it
// was read from (overwrites dx).
void col2im(const View& cols, const Conv2dGeometry& g, const View& dx);

// out [N, O, OH, OW] = conv(x, weight) + bias; x, weight, out contiguous, bias nullptr or [O].
void conv2d_forward(const View& x, const View& weight, const View* bias, const View& out,
                    int64_t stride, int64_t padding);

// Gradients of conv2d_forward given grad_out [N, O, OH, OW]; each output is optional (nullptr
// skips its work) and is overwritten: grad_x like x, grad_weight like weight, grad_bias [O].
void conv2d_backward(const View& x, const View& weight, const View& grad_out, int64_t stride,
                     int64_t padding, const View* grad_x, const View* grad_weight,
                     const View* grad_bias);

}  // namespace octet::cpu
