#include "framework/functional/conv.h"

#include "framework/tensor/autograd.h"
#include "ops/cpu/conv.h"
#include "ops/cpu/pool.h"
#include "ops/cuda/conv.h"
#include "ops/cuda/pool.h"
#include "ops/on_device.h"

namespace octet {
namespace {

// A view pointer for an optional tensor: the kernels take nullptr for "not wanted".
const View* optional_view(const Tensor& t, View& storage) {
  if (!t.defined()) return nullptr;
  storage = t.view();
  return &storage;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
              int64_t padding) {
  OCTET_CHECK(x.defined() && weight.defined(), "conv2d", "input and weight must be defined");
  const Device dev = common_device(
      "conv2d", {x.device(), weight.device(), bias.defined() ? bias.device() : x.device()});
  const cpu::Conv2dGeometry g =
      on_cuda(dev) ? cuda::conv2d_geometry(x.view(), weight.view(), stride, padding)
                   : cpu::conv2d_geometry(x.view(), weight.view(), stride, padding);
  OCTET_CHECK(!bias.defined() ||
                  (bias.dim() == 1 && bias.size(0) == g.out_channels && bias.dtype() == x.dtype()),
              "conv2d", "bias ", bias.defined() ? bias.str() : "", " does not fit weight ",
              weight.str(), ": expected ", dtype_name(x.dtype()), "[", g.out_channels, "]");
  // The kernels read dense NCHW; contiguous() is free for inputs that already are.
  Tensor xc = x.detach().contiguous(), wc = weight.detach().contiguous();
  Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  Tensor out = Tensor::empty(g.output_shape(), x.dtype(), dev);
  View bias_view;
  if (on_cuda(dev)) {
    cuda::conv2d_forward(xc.view(), wc.view(), optional_view(bc, bias_view), out.view(), stride,
                         padding);
  } else {
    cpu::conv2d_forward(xc.view(), wc.view(), optional_view(bc, bias_view), out.view(), stride,
                        padding);
  }
  return record(out, "conv2d", {x, weight, bias},
                [xc, wc, stride, padding, dev](const Tensor& grad_out, const NeedsGrad& needs) {
                  const Tensor g = grad_out.contiguous();
                  Tensor gx, gw, gb;
                  if (needs[0]) gx = Tensor::empty(xc.shape(), xc.dtype(), dev);
                  if (needs[1]) gw = Tensor::empty(wc.shape(), wc.dtype(), dev);
                  if (needs[2]) gb = Tensor::empty({wc.size(0)}, wc.dtype(), dev);
                  View gx_view, gw_view, gb_view;
                  if (on_cuda(dev)) {
                    cuda::conv2d_backward(xc.view(), wc.view(), g.view(), stride, padding,
                                          optional_view(gx, gx_view), optional_view(gw, gw_view),
                                          optional_view(gb, gb_view));
                  } else {
                    cpu::conv2d_backward(xc.view(), wc.view(), g.view(), stride, padding,
                                         optional_view(gx, gx_view), optional_view(gw, gw_view),
                                         optional_view(gb, gb_view));
                  }
                  return std::vector<Tensor>{gx, gw, gb};
                });
}

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride) {
  OCTET_CHECK(x.defined(), "max_pool2d", "input must be defined");
  if (stride == 0) stride = kernel;
  const Shape out_shape = cpu::max_pool2d_output_shape(x.shape(), kernel, stride);
  Tensor xc = x.detach().contiguous();
  const Device dev = xc.device();
  Tensor out = Tensor::empty(out_shape, x.dtype(), dev);
  Tensor indices = Tensor::empty(out_shape, DType::i64, dev);
  if (on_cuda(dev)) {
    cuda::max_pool2d_forward(xc.view(), kernel, stride, out.view(), indices.view());
  } else {
    cpu::max_pool2d_forward(xc.view(), kernel, stride, out.view(), indices.view());
  }
  // Only the arg-max positions are kept for backward, not the input.
  const Shape x_shape = x.shape();
  return record(
      out, "max_pool2d", {x}, [indices, x_shape](const Tensor& grad_out, const NeedsGrad&) {
        const Tensor g = grad_out.contiguous();
        const Device dev = common_device("max_pool2d_backward", {g.device(), indices.device()});
        Tensor gx = Tensor::empty(x_shape, g.dtype(), dev);
        if (on_cuda(dev)) {
          cuda::max_pool2d_backward(g.view(), indices.view(), gx.view());
        } else {
          cpu::max_pool2d_backward(g.view(), indices.view(), gx.view());
        }
        return std::vector<Tensor>{gx};
      });
}

}  // namespace octet
