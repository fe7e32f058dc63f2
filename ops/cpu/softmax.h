#pragma once
// Softmax-family kernels over the last dimension of contiguous rows (f32, f64): softmax and
// log-softmax with their backward passes, the fused cross-entropy, and the causal masked softmax of
// attention. Every view must be contiguous; outputs have the input's shape and dtype.
#include <cstdint>

#include "ops/view.h"

namespace octet::cpu {

// y = softmax(x) per row.
void softmax_forward(const View& x, const View& y);
// dx = y * (dy - sum(dy * y)), from the forward output y.
void softmax_backward(const View& y, const View& dy, const View& dx);

// y = x - logsumexp(x) per row.
void log_softmax_forward(const View& x, const View& y);
// dx = dy - exp(y) * sum(dy), from the forward output y.
void log_softmax_backward(const View& y, const View& dy, const View& dx);

// logits [N, C], targets i64 [N]. Writes loss[n] = logsumexp(logits[n]) - logits[n, targets[n]]
// and lse[n] = logsumexp(logits[n]) (what backward needs instead of the N x C probabilities).
// Rows whose target is `ignore_index` get loss 0. Returns how many rows were not ignored.
// Throws [cross_entropy] for a target outside [0, C) that is not ignore_index.
int64_t cross_entropy_forward(const View& logits, const View& targets, int64_t ignore_index,
                              const View& loss, const View& lse);
// dlogits[n] = (softmax(logits[n]) - onehot(targets[n])) * scale, zero for ignored rows; the
// mean's 1/count and the upstream gradient are folded into `scale`.
void cross_entropy_backward(const View& logits, const View& targets, int64_t ignore_index,
                            const View& lse, double scale, const View& dlogits);

// x [..., T, T]: y = softmax(scale * x) where row i keeps columns 0..i; the columns above the
// diagonal are written as zeros and never read, so the masked half costs nothing. scale > 0.
void causal_softmax_forward(const View& x, double scale, const View& y);
// dx = scale * y * (dy - sum(dy * y)) on the kept columns, zeros above the diagonal.
void causal_softmax_backward(const View& y, const View& dy, double scale, const View& dx);

}  // namespace octet::cpu
