#pragma once
// The CUDA twins of ops/cpu/softmax.h: softmax, log-softmax, the fused cross-entropy and the causal
// masked softmax over the last dimension of contiguous rows (f32, f64), with the same arguments,
// formulas and order of operations. One thread block per row: max, then sum of exponentials, then
// the normalised row, reduced in the row's dtype. Every view lives on one CUDA device.
#include <cstdint>

#include "ops/view.h"

namespace octet::cuda {

void softmax_forward(const View& x, const View& y);
void softmax_backward(const View& y, const View& dy, const View& dx);

void log_softmax_forward(const View& x, const View& y);
void log_softmax_backward(const View& y, const View& dy, const View& dx);

// As cpu::cross_entropy_forward: returns how many rows were not ignored and throws
// [cross_entropy] naming the first target outside [0, C) that is not ignore_index. Reading that
// count back waits for the device's stream.
int64_t cross_entropy_forward(const View& logits, const View& targets, int64_t ignore_index,
                              const View& loss, const View& lse);
void cross_entropy_backward(const View& logits, const View& targets, int64_t ignore_index,
                            const View& lse, double scale, const View& dlogits);

void causal_softmax_forward(const View& x, double scale, const View& y);
void causal_softmax_backward(const View& y, const View& dy, double scale, const View& dx);

}  // namespace octet::cuda
