#pragma once
// The CUDA twins of ops/cpu/embedding.h, same arguments and checks.
#include "ops/view.h"

namespace octet::cuda {

// out[n, :] = weight[indices[n], :] for any dtype. Throws naming the first index outside [0, V)
// before touching `out` (the indices are scanned on the device and the result read back, which
// waits for the stream).
void embedding_forward(const View& indices, const View& weight, const View& out);
// grad_weight[v, :] = sum of grad_out[n, :] over n with indices[n] == v (f32/f64), zero for rows
// never picked; overwrites grad_weight. Unlike the CPU's, the sum is taken with atomicAdd, so a
// row picked more than once adds its terms in an order that can change from run to run (the last
// bits of a repeated token's gradient are not reproducible).
void embedding_backward(const View& grad_out, const View& indices, const View& grad_weight);

}  // namespace octet::cuda
