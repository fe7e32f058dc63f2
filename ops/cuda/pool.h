#pragma once
// The CUDA twins of ops/cpu/pool.h: max pooling over square NCHW windows (no padding) with the
// arg-max kept for the backward. The output shape comes from cpu::max_pool2d_output_shape.
#include <cstdint>

#include "ops/cpu/pool.h"
#include "ops/view.h"

namespace octet::cuda {

// Same result and indices as the CPU: the first maximum in row-major window order on ties, the
// first NaN if the window holds one.
void max_pool2d_forward(const View& x, int64_t kernel, int64_t stride, const View& out,
                        const View& indices);

// grad_x = grad_out scattered onto the recorded arg-max positions (overwritten). Where windows
// overlap (stride < kernel) and share an arg-max the terms are added with atomicAdd in an order
// that can change between runs; without overlap every input gets at most one term and the result
// is exact. Indices outside the plane throw [max_pool2d] after the kernel (a read-back that waits
// for the stream) and are skipped.
void max_pool2d_backward(const View& grad_out, const View& indices, const View& grad_x);

}  // namespace octet::cuda
