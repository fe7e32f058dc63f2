#pragma once
// Layer norm and RMS norm over the last dimension of contiguous rows, forward and backward.
// The forward saves per-row statistics (mean, 1/std) so the backward never recomputes them.
#include "ops/view.h"

namespace octet::cpu {

// x, out: contiguous [..., D] (rows = numel / D); weight, bias: contiguous [D] (bias may be null);
// mean, rstd: contiguous, one element per row. All of one floating dtype.
void layer_norm_forward(const View& x, const View& weight, const View* bias, double eps,
                        const View& out, const View& mean, const View& rstd);
// Writes whichever of dx [..., D], dweight [D], dbias [D] is non-null. dweight and dbias are sums
// over rows taken in fixed blocks of rows, so they are bitwise the same for any thread count.
void layer_norm_backward(const View& grad_out, const View& x, const View& weight, const View& mean,
                         const View& rstd, const View* dx, const View* dweight, const View* dbias);

// y = x / sqrt(mean(x^2) + eps) * weight; rstd holds 1/sqrt(mean(x^2) + eps) per row.
void rms_norm_forward(const View& x, const View& weight, double eps, const View& out,
                      const View& rstd);
void rms_norm_backward(const View& grad_out, const View& x, const View& weight, const View& rstd,
                       const View* dx, const View* dweight);

}  // namespace octet::cpu
