#pragma once
// Fused, in-place parameter updates on a CUDA device: the twins of ops/cpu/optimizer_step.h,
// taking the same hyper-parameter structs and computing the same update formula in the same
// order of operations (the bias corrections and step size are computed on the host exactly as
// the CPU computes them). Pointers are device memory of `device`; kernels run on its octet stream.
#include <cstdint>

#include "ops/cpu/optimizer_step.h"

namespace octet::cuda {

using cpu::AdamWHyper;
using cpu::SgdHyper;

void adamw_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                const AdamWHyper& h, int device);
void sgd_step(float* param, const float* grad, float* momentum_buf, int64_t n, const SgdHyper& h,
              int device);

// *acc += sum of x[i]^2, accumulated in double; acc is one double in device memory. Queued on
// the stream without waiting, so gradient clipping sums every tensor before one read-back. The
// summation order depends on n only: the result is reproducible.
void sum_of_squares_into(const float* x, int64_t n, double* acc, int device);
// Gradient clipping without a read-back: norm = sqrt(*sum_of_squares) and
// *coef = norm > max_norm && norm > 0 ? float(max_norm / (norm + 1e-6)) : 1, the doubles
// optim::clip_grad_norm computes on the host, rounded to f32 as its scalar multiply rounds them.
void clip_coefficient(const double* sum_of_squares, double max_norm, float* coef, int device);
// x[i] *= *coef in place; no element is written while *coef == 1 (the common step).
void scale_in_place(float* x, int64_t n, const float* coef, int device);

// Sum of squares, accumulated in double, returned to the host (waits for the stream).
double sum_of_squares(const float* x, int64_t n, int device);

}  // namespace octet::cuda
