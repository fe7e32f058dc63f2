#pragma once
// The argument checks of conv2d and its im2col/col2im, for every device: cpu:: and cuda:: kernels
// call these after conv2d_geometry, so both accept and refuse the same views in the same words.
// Device agreement is the caller's (the CPU kernels never see a device view).
#include "ops/cpu/conv.h"
#include "ops/view.h"

namespace octet {

// x: [N, C, H, W] matching the geometry, contiguous.
void check_conv_images(const View& v, const cpu::Conv2dGeometry& g, const char* name);
// cols: a contiguous [C*KH*KW, count*OH*OW] matrix of `dtype`.
void check_conv_columns(const View& cols, const cpu::Conv2dGeometry& g, int64_t count, DType dtype);
// Forward: dense input and weight, output of the geometry's shape and x's dtype, bias (may be
// null) a contiguous [O] vector of x's dtype.
void check_conv2d_forward(const View& x, const View& weight, const View* bias, const View& out,
                          const cpu::Conv2dGeometry& g);
// Backward: as forward for x, weight and grad_out; each wanted gradient shaped like its input.
void check_conv2d_backward(const View& x, const View& weight, const View& grad_out,
                           const View* grad_x, const View* grad_weight, const View* grad_bias,
                           const cpu::Conv2dGeometry& g);

}  // namespace octet
