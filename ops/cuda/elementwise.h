#pragma once
// Elementwise kernels on a CUDA device: the twins of ops/cpu/elementwise.h, with the same
// declarations, enums, broadcasting rules, dtypes (f32, f64) and formulas (GELU's tanh form, the
// fast exp/tanh/sigmoid of ops/cpu/fast_math.h), so f32 results agree with the CPU's to a few ulp.
// Every view must live on one CUDA device; the kernels run on its octet stream.
#include "ops/cpu/elementwise.h"
#include "ops/view.h"

namespace octet::cuda {

using cpu::BinaryOp;
using cpu::UnaryOp;

// out = a (op) b; a and b are broadcast to out's shape; all of one floating dtype.
void binary(BinaryOp op, const View& a, const View& b, const View& out);
// out = a (op) scalar, or scalar (op) a when `scalar_first`.
void binary_scalar(BinaryOp op, const View& a, double scalar, const View& out,
                   bool scalar_first = false);
// out = a * alpha + b * beta.
void axpby(const View& a, double alpha, const View& b, double beta, const View& out);
void unary(UnaryOp op, const View& x, const View& out);
// dx = dy * f'(x), with y = f(x).
void unary_backward(UnaryOp op, const View& x, const View& y, const View& dy, const View& dx);
// out = x ^ p.
void pow_scalar(const View& x, double p, const View& out);

}  // namespace octet::cuda
