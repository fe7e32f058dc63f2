#pragma once
// Max pooling over square windows of NCHW views (no padding), with the arg-max of every window
// kept so the backward pass is a scatter instead of a second search.
#include <cstdint>

#include "ops/view.h"

namespace octet::cpu {

// [N, C, OH, OW] with OH = (H - kernel) / stride + 1 (likewise OW); validates x's rank, the
// kernel and stride (>= 1) and that one window fits. Errors are tagged "max_pool2d".
Shape max_pool2d_output_shape(const Shape& x, int64_t kernel, int64_t stride);

// out = the maximum of each kernel x kernel window of x (contiguous, f32/f64); indices (i64,
// out's shape) = its position h * W + w within the channel's plane: the first maximum in
// row-major window order on ties, the first NaN if the window holds one (NaN propagates).
void max_pool2d_forward(const View& x, int64_t kernel, int64_t stride, const View& out,
                        const View& indices);

// grad_x (contiguous, overwritten) = grad_out scattered onto the recorded arg-max positions;
// overlapping windows that share an arg-max add up.
void max_pool2d_backward(const View& grad_out, const View& indices, const View& grad_x);

}  // namespace octet::cpu
