#pragma once
// The argument checks of layer norm and RMS norm, for every device: cpu:: and cuda:: kernels call
// these first, so both accept and refuse the same views in the same words. Every view must be
// contiguous, of x's dtype and on x's device; statistics hold one element per row.
#include "ops/view.h"

namespace octet {

struct NormRows {
  int64_t count = 0;  // rows: every dimension of x but the last
  int64_t dim = 0;    // the normalised (last) dimension
};

NormRows check_layer_norm_forward(const View& x, const View& weight, const View* bias,
                                  const View& out, const View& mean, const View& rstd);
NormRows check_layer_norm_backward(const View& grad_out, const View& x, const View& weight,
                                   const View& mean, const View& rstd, const View* dx,
                                   const View* dweight, const View* dbias);
NormRows check_rms_norm_forward(const View& x, const View& weight, const View& out,
                                const View& rstd);
NormRows check_rms_norm_backward(const View& grad_out, const View& x, const View& weight,
                                 const View& rstd, const View* dx, const View* dweight);

}  // namespace octet
