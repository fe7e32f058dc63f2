#pragma once
// Elementwise kernels: binary ops with broadcasting, unary activations and their derivatives.
#include "ops/view.h"

namespace octet::cpu {

enum class BinaryOp { add, sub, mul, div, maximum, minimum };
enum class UnaryOp { neg, exp, log, tanh, relu, gelu, silu, sigmoid, sqrt, square, abs };

// out = a (op) b; a and b are broadcast to out's shape; all of one floating dtype.
void binary(BinaryOp op, const View& a, const View& b, const View& out);
// out = a (op) scalar, or scalar (op) a when `scalar_first`.
void binary_scalar(BinaryOp op, const View& a, double scalar, const View& out,
                   bool scalar_first = false);
// out = a * alpha + b * beta (the optimizer and gradient-accumulation workhorse).
void axpby(const View& a, double alpha, const View& b, double beta, const View& out);
void unary(UnaryOp op, const View& x, const View& out);
// dx = dy * f'(x); y = f(x) is passed too because some derivatives are cheaper from it.
void unary_backward(UnaryOp op, const View& x, const View& y, const View& dy, const View& dx);
// out = x ^ p (elementwise, real p).
void pow_scalar(const View& x, double p, const View& out);

}  // namespace octet::cpu
