#include "framework/functional/arithmetic.h"

#include <algorithm>

#include "framework/tensor/autograd.h"
#include "ops/cpu/broadcast.h"
#include "ops/cpu/copy.h"
#include "ops/cpu/elementwise.h"
#include "ops/cpu/reduce.h"
#include "ops/cuda/copy.h"
#include "ops/cuda/elementwise.h"
#include "ops/cuda/reduce.h"
#include "ops/on_device.h"

namespace octet {
namespace {

using cpu::BinaryOp;
using cpu::UnaryOp;

// Every op runs where its operands live (ops/on_device.h): outputs are created on that device
// and the kernel of ops/cpu/ or ops/cuda/ of the same name fills them.

Tensor binary_forward(const char* name, BinaryOp op, const Tensor& a, const Tensor& b) {
  OCTET_CHECK(a.dtype() == b.dtype(), name, "dtypes differ: ", a.str(), " vs ", b.str());
  const Device dev = common_device(name, {a.device(), b.device()});
  Tensor out = Tensor::empty(cpu::broadcast_shapes(name, a.shape(), b.shape()), a.dtype(), dev);
  if (on_cuda(dev))
    cuda::binary(op, a.view(), b.view(), out.view());
  else
    cpu::binary(op, a.view(), b.view(), out.view());
  return out;
}

Tensor unary_op(const char* name, UnaryOp op, const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (on_cuda(x.device()))
    cuda::unary(op, x.view(), y.view());
  else
    cpu::unary(op, x.view(), y.view());
  Tensor xs = x.detach(), ys = y.detach();
  return record(y, name, {x}, [name, op, xs, ys](const Tensor& g, const NeedsGrad&) {
    const Device dev = common_device(name, {xs.device(), g.device()});
    Tensor dx = Tensor::empty(xs.shape(), xs.dtype(), dev);
    if (on_cuda(dev))
      cuda::unary_backward(op, xs.view(), ys.view(), g.view(), dx.view());
    else
      cpu::unary_backward(op, xs.view(), ys.view(), g.view(), dx.view());
    return std::vector<Tensor>{dx};
  });
}

Tensor scalar_op(BinaryOp op, const Tensor& a, double s, bool scalar_first) {
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  if (on_cuda(a.device()))
    cuda::binary_scalar(op, a.view(), s, out.view(), scalar_first);
  else
    cpu::binary_scalar(op, a.view(), s, out.view(), scalar_first);
  return out;
}

// out = x ^ p on x's device.
Tensor pow_kernel(const Tensor& x, double p) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (on_cuda(x.device()))
    cuda::pow_scalar(x.view(), p, out.view());
  else
    cpu::pow_scalar(x.view(), p, out.view());
  return out;
}

// A keepdim reduction of x into a new tensor of `kept_shape` on x's device.
Tensor reduce_kernel(cpu::ReduceOp op, const Tensor& x, const Shape& kept_shape) {
  Tensor out = Tensor::empty(kept_shape, x.dtype(), x.device());
  if (on_cuda(x.device()))
    cuda::reduce(op, x.view(), out.view());
  else
    cpu::reduce(op, x.view(), out.view());
  return out;
}

int64_t wrap_dim(const char* op, int64_t d, int64_t rank) {
  OCTET_CHECK(d >= -rank && d < std::max<int64_t>(rank, 1), op, "dimension ", d,
              " out of range for rank ", rank);
  return d < 0 ? d + rank : d;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("add", BinaryOp::add, a, b);
  Shape sa = a.shape(), sb = b.shape();
  return record(out, "add", {a, b}, [sa, sb](const Tensor& g, const NeedsGrad& needs) {
    return std::vector<Tensor>{needs[0] ? sum_to(g, sa) : Tensor(),
                               needs[1] ? sum_to(g, sb) : Tensor()};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("sub", BinaryOp::sub, a, b);
  Shape sa = a.shape(), sb = b.shape();
  return record(out, "sub", {a, b}, [sa, sb](const Tensor& g, const NeedsGrad& needs) {
    return std::vector<Tensor>{needs[0] ? sum_to(g, sa) : Tensor(),
                               needs[1] ? sum_to(neg(g), sb) : Tensor()};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("mul", BinaryOp::mul, a, b);
  Tensor as = a.detach(), bs = b.detach();
  return record(out, "mul", {a, b}, [as, bs](const Tensor& g, const NeedsGrad& needs) {
    return std::vector<Tensor>{needs[0] ? sum_to(mul(g, bs), as.shape()) : Tensor(),
                               needs[1] ? sum_to(mul(g, as), bs.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("div", BinaryOp::div, a, b);
  Tensor as = a.detach(), bs = b.detach(), outs = out.detach();
  return record(out, "div", {a, b}, [as, bs, outs](const Tensor& g, const NeedsGrad& needs) {
    Tensor ga, gb;
    if (needs[0]) ga = sum_to(div(g, bs), as.shape());
    if (needs[1]) gb = sum_to(neg(div(mul(g, outs), bs)), bs.shape());  // -g * a / b^2
    return std::vector<Tensor>{ga, gb};
  });
}

Tensor add(const Tensor& a, double s) {
  return record(scalar_op(BinaryOp::add, a, s, false), "add_scalar", {a},
                [](const Tensor& g, const NeedsGrad&) { return std::vector<Tensor>{g}; });
}

Tensor mul(const Tensor& a, double s) {
  return record(scalar_op(BinaryOp::mul, a, s, false), "mul_scalar", {a},
                [s](const Tensor& g, const NeedsGrad&) { return std::vector<Tensor>{mul(g, s)}; });
}

Tensor rsub(double s, const Tensor& a) {
  return record(scalar_op(BinaryOp::sub, a, s, true), "rsub", {a},
                [](const Tensor& g, const NeedsGrad&) { return std::vector<Tensor>{neg(g)}; });
}

Tensor rdiv(double s, const Tensor& a) {
  Tensor out = scalar_op(BinaryOp::div, a, s, true);
  Tensor as = a.detach(), outs = out.detach();
  return record(out, "rdiv", {a}, [as, outs](const Tensor& g, const NeedsGrad&) {
    return std::vector<Tensor>{neg(div(mul(g, outs), as))};  // -s/a^2 = -out/a
  });
}

Tensor neg(const Tensor& a) { return unary_op("neg", UnaryOp::neg, a); }

Tensor pow(const Tensor& a, double p) {
  Tensor out = pow_kernel(a, p);
  Tensor as = a.detach();
  return record(out, "pow", {a}, [as, p](const Tensor& g, const NeedsGrad&) {
    Tensor d = pow_kernel(as, p - 1);
    return std::vector<Tensor>{mul(g, mul(d, p))};
  });
}

Tensor exp(const Tensor& x) { return unary_op("exp", UnaryOp::exp, x); }
Tensor log(const Tensor& x) { return unary_op("log", UnaryOp::log, x); }
Tensor tanh(const Tensor& x) { return unary_op("tanh", UnaryOp::tanh, x); }
Tensor relu(const Tensor& x) { return unary_op("relu", UnaryOp::relu, x); }
Tensor gelu(const Tensor& x) { return unary_op("gelu", UnaryOp::gelu, x); }
Tensor silu(const Tensor& x) { return unary_op("silu", UnaryOp::silu, x); }
Tensor sigmoid(const Tensor& x) { return unary_op("sigmoid", UnaryOp::sigmoid, x); }
Tensor sqrt(const Tensor& x) { return unary_op("sqrt", UnaryOp::sqrt, x); }
Tensor square(const Tensor& x) { return unary_op("square", UnaryOp::square, x); }
Tensor abs(const Tensor& x) { return unary_op("abs", UnaryOp::abs, x); }

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const int64_t rank = x.dim();
  std::vector<bool> reduce(rank, dims.empty());
  for (int64_t d : dims) reduce[wrap_dim("sum", d, rank)] = true;
  Shape kept_shape = x.shape(), out_shape;
  for (int64_t d = 0; d < rank; ++d) {
    if (reduce[d]) kept_shape[d] = 1;
    if (!reduce[d] || keepdim) out_shape.push_back(kept_shape[d]);
  }
  Tensor out = reduce_kernel(cpu::ReduceOp::sum, x, kept_shape);
  out = make_view(out, out_shape, contiguous_strides(out_shape), 0);
  Shape in_shape = x.shape();
  return record(out, "sum", {x}, [in_shape, kept_shape](const Tensor& g, const NeedsGrad&) {
    return std::vector<Tensor>{expand(g.reshape(kept_shape), in_shape)};
  });
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  int64_t count = 1;
  if (dims.empty()) {
    count = x.numel();
  } else {
    for (int64_t d : dims) count *= x.size(d);
  }
  return mul(sum(x, dims, keepdim), 1.0 / static_cast<double>(std::max<int64_t>(count, 1)));
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  OCTET_CHECK(lead >= 0, "sum_to", "cannot sum ", x.str(), " to ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && x.size(d) != 1)) dims.push_back(d);
  return sum(x, dims, true).reshape(shape);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  if (on_cuda(x.device()))
    cuda::copy(cpu::broadcast_to(x.view(), shape), out.view());
  else
    cpu::copy(cpu::broadcast_to(x.view(), shape), out.view());
  Shape in_shape = x.shape();
  return record(out, "expand", {x}, [in_shape](const Tensor& g, const NeedsGrad&) {
    return std::vector<Tensor>{sum_to(g, in_shape)};
  });
}

Tensor amax_abs(const Tensor& x) {
  Tensor out = reduce_kernel(cpu::ReduceOp::amax, x, Shape(x.dim(), 1));
  return out.reshape({});
}

Tensor argmax(const Tensor& x) {
  Shape s = x.shape();
  if (!s.empty()) s.pop_back();
  Tensor out = Tensor::empty(s, DType::i64, x.device());
  if (on_cuda(x.device()))
    cuda::argmax_last(x.contiguous().view(), out.view());
  else
    cpu::argmax_last(x.contiguous().view(), out.view());
  return out;
}

}  // namespace octet
