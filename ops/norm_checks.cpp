#include "ops/norm_checks.h"

#include "ops/error.h"

namespace octet {
namespace {

void check_same(const char* op, const View& v, const View& like) {
  OCTET_CHECK(v.dtype == like.dtype, op, "dtypes differ: ", dtype_name(v.dtype), shape_str(v.shape),
              " vs ", dtype_name(like.dtype), shape_str(like.shape));
  OCTET_CHECK(v.device == like.device, op, "operands on ", v.device.str(), " and ",
              like.device.str(), "; every view must live on one device");
}

NormRows check_rows(const char* op, const View& x, const View& weight) {
  OCTET_CHECK(x.dim() >= 1 && x.shape.back() > 0, op, "needs a non-empty last dimension, got ",
              shape_str(x.shape));
  OCTET_CHECK(x.is_contiguous(), op, "input ", shape_str(x.shape), " must be contiguous");
  const int64_t dim = x.shape.back();
  OCTET_CHECK(weight.numel() == dim && weight.is_contiguous(), op, "weight ",
              shape_str(weight.shape), " does not fit input ", shape_str(x.shape));
  check_same(op, x, weight);
  return {x.numel() / dim, dim};
}

void check_like(const char* op, const char* what, const View& v, const View& like) {
  OCTET_CHECK(v.shape == like.shape && v.is_contiguous(), op, what, " ", shape_str(v.shape),
              " must be contiguous with shape ", shape_str(like.shape));
  check_same(op, v, like);
}

void check_per_row(const char* op, const char* what, const View& v, const NormRows& rows,
                   const View& x) {
  OCTET_CHECK(v.numel() == rows.count && v.is_contiguous(), op, what, " ", shape_str(v.shape),
              " needs one contiguous element per row of ", shape_str(x.shape));
  check_same(op, v, x);
}

}  // namespace

NormRows check_layer_norm_forward(const View& x, const View& weight, const View* bias,
                                  const View& out, const View& mean, const View& rstd) {
  const char* op = "layer_norm";
  const NormRows rows = check_rows(op, x, weight);
  if (bias) check_like(op, "bias", *bias, weight);
  check_like(op, "output", out, x);
  check_per_row(op, "mean", mean, rows, x);
  check_per_row(op, "rstd", rstd, rows, x);
  return rows;
}

NormRows check_layer_norm_backward(const View& grad_out, const View& x, const View& weight,
                                   const View& mean, const View& rstd, const View* dx,
                                   const View* dweight, const View* dbias) {
  const char* op = "layer_norm_backward";
  const NormRows rows = check_rows(op, x, weight);
  check_like(op, "gradient", grad_out, x);
  check_per_row(op, "mean", mean, rows, x);
  check_per_row(op, "rstd", rstd, rows, x);
  if (dx) check_like(op, "dx", *dx, x);
  if (dweight) check_like(op, "dweight", *dweight, weight);
  if (dbias) check_like(op, "dbias", *dbias, weight);
  return rows;
}

NormRows check_rms_norm_forward(const View& x, const View& weight, const View& out,
                                const View& rstd) {
  const char* op = "rms_norm";
  const NormRows rows = check_rows(op, x, weight);
  check_like(op, "output", out, x);
  check_per_row(op, "rstd", rstd, rows, x);
  return rows;
}

NormRows check_rms_norm_backward(const View& grad_out, const View& x, const View& weight,
                                 const View& rstd, const View* dx, const View* dweight) {
  const char* op = "rms_norm_backward";
  const NormRows rows = check_rows(op, x, weight);
  check_like(op, "gradient", grad_out, x);
  check_per_row(op, "rstd", rstd, rows, x);
  if (dx) check_like(op, "dx", *dx, x);
  if (dweight) check_like(op, "dweight", *dweight, weight);
  return rows;
}

}  // namespace octet
