#include "ops/conv_checks.h"

#include "ops/error.h"

namespace octet {
namespace {

constexpr const char* kOp = "conv2d";

void check_dense(const View& v, const char* name) {
  OCTET_CHECK(v.is_contiguous(), kOp, name, " must be contiguous, got shape ", shape_str(v.shape),
              " with strides ", shape_str(v.strides));
}

}  // namespace

void check_conv_images(const View& v, const cpu::Conv2dGeometry& g, const char* name) {
  OCTET_CHECK(v.dim() == 4 && v.shape[1] == g.in_channels && v.shape[2] == g.height &&
                  v.shape[3] == g.width,
              kOp, name, " ", shape_str(v.shape), " does not match the geometry's [N, ",
              g.in_channels, ", ", g.height, ", ", g.width, "]");
  check_dense(v, name);
}

void check_conv_columns(const View& cols, const cpu::Conv2dGeometry& g, int64_t count,
                        DType dtype) {
  const Shape expected{g.patch(), count * g.out_pixels()};
  OCTET_CHECK(cols.shape == expected && cols.is_contiguous() && cols.dtype == dtype, kOp,
              "columns must be a contiguous ", dtype_name(dtype), shape_str(expected), ", got ",
              dtype_name(cols.dtype), shape_str(cols.shape));
}

void check_conv2d_forward(const View& x, const View& weight, const View* bias, const View& out,
                          const cpu::Conv2dGeometry& g) {
  check_dense(x, "input");
  check_dense(weight, "weight");
  OCTET_CHECK(out.shape == g.output_shape() && out.dtype == x.dtype, kOp, "output ",
              dtype_name(out.dtype), shape_str(out.shape), " should be ", dtype_name(x.dtype),
              shape_str(g.output_shape()));
  check_dense(out, "output");
  if (bias) {
    OCTET_CHECK(bias->dim() == 1 && bias->shape[0] == g.out_channels && bias->dtype == x.dtype &&
                    bias->is_contiguous(),
                kOp, "bias must be a contiguous ", dtype_name(x.dtype), "[", g.out_channels,
                "], got ", dtype_name(bias->dtype), shape_str(bias->shape));
  }
}

void check_conv2d_backward(const View& x, const View& weight, const View& grad_out,
                           const View* grad_x, const View* grad_weight, const View* grad_bias,
                           const cpu::Conv2dGeometry& g) {
  check_dense(x, "input");
  check_dense(weight, "weight");
  OCTET_CHECK(grad_out.shape == g.output_shape() && grad_out.dtype == x.dtype, kOp,
              "output gradient ", dtype_name(grad_out.dtype), shape_str(grad_out.shape),
              " should be ", dtype_name(x.dtype), shape_str(g.output_shape()));
  check_dense(grad_out, "output gradient");
  auto check_like = [&](const View* v, const Shape& shape, const char* name) {
    if (!v) return;
    OCTET_CHECK(v->shape == shape && v->dtype == x.dtype && v->is_contiguous(), kOp, name,
                " must be a contiguous ", dtype_name(x.dtype), shape_str(shape), ", got ",
                dtype_name(v->dtype), shape_str(v->shape));
  };
  check_like(grad_x, x.shape, "input gradient");
  check_like(grad_weight, weight.shape, "weight gradient");
  check_like(grad_bias, {g.out_channels}, "bias gradient");
}

}  // namespace octet
