#include "framework/functional/linear.h"

#include <optional>

#include "framework/autocast.h"
#include "framework/functional/arithmetic.h"
#include "framework/tensor/autograd.h"
#include "ops/cpu/gemm.h"
#include "ops/cuda/gemm.h"
#include "ops/on_device.h"

namespace octet {
namespace {

// The last two dims of `v` as a matrix, its leading dims collapsed into one batch dimension when
// their strides allow it (so q @ k^T on [B,H,T,D] views needs no copy).
std::optional<View> as_batched_matrix(const View& v) {
  const int64_t r = v.dim();
  const bool unit_stride =
      v.strides[r - 1] == 1 || v.strides[r - 2] == 1 || v.shape[r - 1] == 1 || v.shape[r - 2] == 1;
  if (!unit_stride) return std::nullopt;
  View out = v;
  out.shape = {1, v.shape[r - 2], v.shape[r - 1]};
  out.strides = {0, v.strides[r - 2], v.strides[r - 1]};
  int64_t batch = 1, stride = 0;
  for (int64_t d = r - 3; d >= 0; --d) {
    if (v.shape[d] == 1) continue;
    if (batch > 1 && v.strides[d] != stride * batch) return std::nullopt;
    if (batch == 1) stride = v.strides[d];
    batch *= v.shape[d];
  }
  out.shape[0] = batch;
  out.strides[0] = stride;
  return out;
}

// `t` itself when its batch dims collapse, else a contiguous copy; keep it alive while its view is
// used.
Tensor matrix_source(const Tensor& t) {
  return as_batched_matrix(t.view()) ? t : t.detach().contiguous();
}
View matrix_view(const Tensor& source) { return *as_batched_matrix(source.view()); }

// Rows of x [..., K] as a [P, K] matrix.
Tensor rows_of(const Tensor& x) { return x.reshape({-1, x.size(-1)}); }

void check_floats(const char* op, const Tensor& a, const Tensor& b) {
  OCTET_CHECK(a.dtype() == b.dtype(), op, "dtypes differ: ", a.str(), " vs ", b.str());
  OCTET_CHECK(a.dtype() == DType::f32 || a.dtype() == DType::f64, op,
              "computes in f32 or f64, got ", a.str());
}

// c = a @ b for batched matrix views (any batch of 1 broadcasts), into a new tensor on the
// operands' device; cuBLASLt there when it is a GPU.
Tensor gemm(const View& a, const View& b, const Shape& out_shape, DType dtype,
            const View* bias = nullptr) {
  const Device dev = bias ? common_device("matmul", {a.device, b.device, bias->device})
                          : common_device("matmul", {a.device, b.device});
  Tensor c = Tensor::empty(out_shape, dtype, dev);
  View cv = *as_batched_matrix(c.view());
  if (on_cuda(dev)) {
    cuda::matmul(a, b, cv, bias);
  } else {
    cpu::matmul(a, b, cv, bias);
  }
  return c;
}

// The dtype the GEMMs of an op on `dtype` operands compute in: autocast's (bf16) for f32 operands
// while a guard is on, else the operands' own. f64 is never autocast, so gradcheck stays exact.
DType gemm_dtype(DType dtype) {
  const std::optional<DType> compute = autocast_dtype();
  return compute && dtype == DType::f32 ? *compute : dtype;
}

// A detached operand in `compute`: under autocast a (contiguous) bf16 copy, which the backward
// keeps and reuses, half the bytes of the f32 operand; else `t` itself. Tensor::to copies on the
// tensor's own device, so this serves CPU and CUDA alike.
Tensor in_dtype(const Tensor& t, DType compute) {
  return t.dtype() == compute ? t.detach() : t.detach().to(compute);
}

View transposed(View v) {
  std::swap(v.shape[1], v.shape[2]);
  std::swap(v.strides[1], v.strides[2]);
  return v;
}

// Under autocast an operand of linear may arrive already in the compute dtype: QAT's fake-quant
// writes the bf16 values the GEMM takes in the pass that quantizes them (qat/quant_layers.cpp), so
// no second pass casts them. Such an operand counts as f32 (the dtype of the output and of every
// gradient under autocast, its own included).
DType autocast_operand_dtype(const Tensor& t) {
  const std::optional<DType> compute = autocast_dtype();
  return compute && t.dtype() == *compute ? DType::f32 : t.dtype();
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_floats("matmul", a, b);
  OCTET_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul", "needs matrices, got ", a.str(), " and ",
              b.str());
  OCTET_CHECK(a.size(-1) == b.size(-2), "matmul", "inner dimensions differ: ", a.str(), " vs ",
              b.str());
  if (b.dim() == 2 && a.dim() > 2) {
    // A stack of rows against one matrix: one large GEMM.
    Tensor a2 = rows_of(a);
    Tensor y = matmul(a2, b);
    Shape s = a.shape();
    s.back() = b.size(1);
    return y.reshape(s);
  }
  OCTET_CHECK(a.dim() == b.dim() && Shape(a.shape().begin(), a.shape().end() - 2) ==
                                        Shape(b.shape().begin(), b.shape().end() - 2),
              "matmul", "batch dimensions differ: ", a.str(), " vs ", b.str());
  Shape out_shape = a.shape();
  out_shape.back() = b.size(-1);
  // Under autocast the operands (and in backward the gradient) go to bf16 and every GEMM still
  // writes f32, as torch.autocast's matmul does; outputs and gradients stay in a's dtype.
  const DType dtype = a.dtype(), compute = gemm_dtype(dtype);
  Tensor as = matrix_source(in_dtype(a, compute)), bs = matrix_source(in_dtype(b, compute));
  Tensor out = gemm(matrix_view(as), matrix_view(bs), out_shape, dtype);
  return record(out, "matmul", {a, b},
                [as, bs, dtype, compute](const Tensor& g, const NeedsGrad& needs) {
                  Tensor ga, gb;
                  const Tensor gs = matrix_source(in_dtype(g, compute));
                  const View gv = matrix_view(gs);
                  if (needs[0]) ga = gemm(gv, transposed(matrix_view(bs)), as.shape(), dtype);
                  if (needs[1]) gb = gemm(transposed(matrix_view(as)), gv, bs.shape(), dtype);
                  return std::vector<Tensor>{ga, gb};
                });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const DType dtype = autocast_operand_dtype(x);
  OCTET_CHECK(dtype == autocast_operand_dtype(weight), "linear", "dtypes differ: ", x.str(), " vs ",
              weight.str());
  OCTET_CHECK(dtype == DType::f32 || dtype == DType::f64, "linear",
              "computes in f32 or f64 (bf16 operands only under autocast), got ", x.str());
  if (bias.defined()) {
    common_device("linear", {x.device(), weight.device(), bias.device()});
  } else {
    common_device("linear", {x.device(), weight.device()});
  }
  OCTET_CHECK(weight.dim() == 2 && x.dim() >= 1 && x.size(-1) == weight.size(1), "linear", "input ",
              x.str(), " does not fit weight ", weight.str(), " (expects [..., ", weight.size(1),
              "])");
  OCTET_CHECK(!bias.defined() ||
                  (bias.dim() == 1 && bias.size(0) == weight.size(0) && bias.dtype() == dtype),
              "linear", "bias ", bias.str(), " does not fit weight ", weight.str());
  // Under autocast x and the weight go to bf16 (the backward reuses these copies, and the
  // gradient goes to bf16 once for both of its GEMMs); the bias, the output and all gradients stay
  // f32, the bias added by the GEMM into its f32 output.
  const DType compute = gemm_dtype(dtype);
  Tensor x2 = rows_of(in_dtype(x, compute));
  Tensor w = compute == dtype ? weight.contiguous().detach() : in_dtype(weight, compute);
  Tensor bc = bias.defined() ? bias.contiguous().detach() : Tensor();
  const View bias_view = bc.defined() ? bc.view() : View();
  Shape out_shape = x.shape();
  out_shape.back() = weight.size(0);
  Tensor out = gemm(*as_batched_matrix(x2.view()), transposed(*as_batched_matrix(w.view())),
                    {x2.size(0), w.size(0)}, dtype, bc.defined() ? &bias_view : nullptr)
                   .reshape(out_shape);
  Shape x_shape = x.shape();
  return record(out, "linear", {x, weight, bias},
                [x2, w, x_shape, dtype, compute](const Tensor& g, const NeedsGrad& needs) {
                  // g32: the f32 rows of g (the bias gradient sums them); g2: what the GEMMs take.
                  const bool autocast = compute != dtype;
                  const Tensor g32 = !autocast || needs[2] ? rows_of(g).contiguous() : Tensor();
                  const Tensor g2 =
                      autocast ? rows_of(in_dtype(g32.defined() ? g32 : g, compute)) : g32;
                  const View gv = *as_batched_matrix(g2.view());
                  Tensor gx, gw, gb;
                  if (needs[0])
                    gx = gemm(gv, *as_batched_matrix(w.view()), {g2.size(0), w.size(1)}, dtype)
                             .reshape(x_shape);
                  if (needs[1])
                    gw = gemm(transposed(gv), *as_batched_matrix(x2.view()), w.shape(), dtype);
                  if (needs[2]) gb = sum(g32, {0});
                  return std::vector<Tensor>{gx, gw, gb};
                });
}

}  // namespace octet
