#include "ops/matmul_shape.h"

#include <algorithm>

#include "ops/error.h"

namespace octet {

MatmulOperand matmul_operand(const char* op, const View& v, const char* name, DeviceType device) {
  OCTET_CHECK(v.dim() == 2 || v.dim() == 3, op, name, " must be 2-D or 3-D, got shape ",
              shape_str(v.shape));
  OCTET_CHECK(v.strides.size() == v.shape.size(), op, name, " has ", v.strides.size(),
              " strides for shape ", shape_str(v.shape));
  OCTET_CHECK(v.device.type == device, op, name, " is on ", v.device.str(), ", expected ",
              device == DeviceType::cpu ? "cpu" : "a CUDA device");
  for (int64_t d : v.shape)
    OCTET_CHECK(d >= 0, op, name, " has a negative dimension: ", shape_str(v.shape));
  OCTET_CHECK(v.data != nullptr || v.numel() == 0, op, name, " has no data");
  const size_t r = v.shape.size() - 2;
  MatmulOperand m;
  m.data = v.data;
  m.dtype = v.dtype;
  m.batch = r == 1 ? v.shape[0] : 1;
  m.sb = r == 1 ? v.strides[0] : 0;
  m.rows = v.shape[r];
  m.cols = v.shape[r + 1];
  m.sr = v.strides[r];
  m.sc = v.strides[r + 1];
  return m;
}

void check_matmul_shapes(const char* op, const View& a_view, const View& b_view, const View& c_view,
                         const View* bias, const MatmulOperand& a, const MatmulOperand& b,
                         const MatmulOperand& c) {
  OCTET_CHECK(a.cols == b.rows, op, "inner dimensions differ: a ", shape_str(a_view.shape),
              " vs b ", shape_str(b_view.shape));
  const int64_t batch = std::max(a.batch, b.batch);
  OCTET_CHECK((a.batch == 1 || a.batch == batch) && (b.batch == 1 || b.batch == batch), op,
              "batch sizes differ: a ", shape_str(a_view.shape), " vs b ", shape_str(b_view.shape));
  const Shape expected =
      batch > 1 || c_view.dim() == 3 ? Shape{batch, a.rows, b.cols} : Shape{a.rows, b.cols};
  OCTET_CHECK(c.batch == batch && c.rows == a.rows && c.cols == b.cols, op, "output c ",
              shape_str(c_view.shape), " does not match a ", shape_str(a_view.shape), " @ b ",
              shape_str(b_view.shape), ": expected ", shape_str(expected));
  OCTET_CHECK(c.batch == 1 || c.sb != 0, op, "c has batch stride 0: every batch would write ",
              "the same matrix");
  if (bias) {
    OCTET_CHECK(bias->dtype == c.dtype && bias->dim() == 1 && bias->shape[0] == c.cols &&
                    (c.cols <= 1 || bias->strides[0] == 1) && bias->device == c_view.device,
                op, "bias must be a contiguous ", c_view.device.str(), " [", c.cols,
                "] vector of c's dtype ", dtype_name(c.dtype), ", got ", dtype_name(bias->dtype),
                " ", strided_str("bias", *bias), " on ", bias->device.str());
  }
}

std::string strided_str(const char* name, const View& v) {
  return detail::concat(name, " ", shape_str(v.shape), " with strides ", shape_str(v.strides));
}

}  // namespace octet
