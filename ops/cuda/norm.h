#pragma once
// The CUDA twins of ops/cpu/norm.h: layer norm and RMS norm over the last dimension of contiguous
// rows (f32, f64), with the same arguments, saved statistics and formulas. One thread block per
// row for the forward and for dx; dweight and dbias are summed over fixed blocks of 32 rows and
// then over the blocks in order, as on the CPU, so they are bitwise reproducible from run to run.
#include "ops/view.h"

namespace octet::cuda {

void layer_norm_forward(const View& x, const View& weight, const View* bias, double eps,
                        const View& out, const View& mean, const View& rstd);
void layer_norm_backward(const View& grad_out, const View& x, const View& weight, const View& mean,
                         const View& rstd, const View* dx, const View* dweight, const View* dbias);

void rms_norm_forward(const View& x, const View& weight, double eps, const View& out,
                      const View& rstd);
void rms_norm_backward(const View& grad_out, const View& x, const View& weight, const View& rstd,
                       const View* dx, const View* dweight);

}  // namespace octet::cuda
