#include "qat/fake_quant.h"

#include <cmath>

#include "framework/tensor/autograd.h"
#include "ops/quant/fake_quant.h"

namespace octet::qat {
namespace {

// The STE mask applied to the upstream gradient: dx = dy * mask.
Tensor masked_gradient(const Tensor& grad_out, const Tensor& mask, DType dtype) {
  Tensor g = grad_out.contiguous();
  Tensor dx = Tensor::empty(g.shape(), dtype);
  const uint8_t* m = mask.data<uint8_t>();
  const int64_t n = g.numel();
  if (dtype == DType::f64) {
    quant::apply_ste_mask(g.data<double>(), m, n, dx.data<double>());
  } else {
    quant::apply_ste_mask(g.data<float>(), m, n, dx.data<float>());
  }
  return dx;
}

const float* optional_f32(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

}  // namespace

Tensor fake_quant(const Tensor& x, const quant::QuantSpec& spec, const QParams& params, Ste ste) {
  spec.validate();
  check_qparams("fake_quant", spec, params, x.shape());
  OCTET_CHECK(x.dtype() == DType::f32 || (x.dtype() == DType::f64 && !spec.is_fp8()), "fake_quant",
              spec.str(), " computes in f32", spec.is_fp8() ? "" : " or f64", ", got ", x.str());
  const quant::ScaleLayout layout = quant::scale_layout(spec, x.shape());
  Tensor xs = x.detach().contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  const bool want_mask = ste == Ste::kClipped && x.requires_grad();
  Tensor mask = want_mask ? Tensor::empty(x.shape(), DType::u8) : Tensor();
  uint8_t* m = want_mask ? mask.data<uint8_t>() : nullptr;
  const Tensor scale = params.scale.detach().contiguous();
  const Tensor zp =
      params.zero_point.defined() ? params.zero_point.detach().contiguous() : Tensor();
  if (spec.is_fp8()) {
    quant::fake_quant_fp8(xs.data<float>(), xs.numel(), layout, scale.data<float>(),
                          quant::fp8_format_of(spec.format), spec.saturate, y.data<float>(), m);
  } else if (x.dtype() == DType::f32) {
    quant::fake_quant_int(xs.data<float>(), xs.numel(), layout, scale.data<float>(),
                          optional_f32(zp), spec.qmin, spec.qmax, y.data<float>(), m);
  } else {
    const Tensor scale64 = scale.to(DType::f64);
    const Tensor zp64 = zp.defined() ? zp.to(DType::f64) : Tensor();
    quant::fake_quant_int(xs.data<double>(), xs.numel(), layout, scale64.data<double>(),
                          zp64.defined() ? zp64.data<double>() : nullptr, spec.qmin, spec.qmax,
                          y.data<double>(), m);
  }
  const DType dtype = x.dtype();
  return record(y, "fake_quant", {x}, [mask, dtype](const Tensor& g, const NeedsGrad&) {
    return std::vector<Tensor>{mask.defined() ? masked_gradient(g, mask, dtype) : g};
  });
}

Tensor fake_quant_lsq(const Tensor& x, const quant::QuantSpec& spec, const Tensor& scale,
                      const Tensor& zero_point, double grad_factor) {
  spec.validate();
  OCTET_CHECK(!spec.is_fp8(), "fake_quant_lsq", "learned scales are for integer formats, got ",
              spec.str());
  OCTET_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, "fake_quant_lsq",
              "computes in f32 or f64, got ", x.str());
  const quant::ScaleLayout layout = quant::scale_layout(spec, x.shape());
  OCTET_CHECK(scale.defined() && scale.dtype() == x.dtype() && scale.numel() == layout.count,
              "fake_quant_lsq", spec.str(), " over ", x.str(), " needs ", layout.count,
              " scales of its dtype, got ", scale.defined() ? scale.str() : "(undefined)");
  OCTET_CHECK(spec.symmetric != zero_point.defined(), "fake_quant_lsq", spec.str(),
              spec.symmetric ? " takes no zero point" : " needs a zero point");
  OCTET_CHECK(!zero_point.defined() ||
                  (zero_point.dtype() == x.dtype() && zero_point.numel() == layout.count),
              "fake_quant_lsq", "zero point ", zero_point.defined() ? zero_point.str() : "",
              " does not match ", layout.count, " scales of ", x.str());
  Tensor xs = x.detach().contiguous(), ss = scale.detach().contiguous();
  Tensor zs = zero_point.defined() ? zero_point.detach().contiguous() : Tensor();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  auto forward = [&](auto zero) {
    using T = decltype(zero);
    quant::fake_quant_int(xs.data<T>(), xs.numel(), layout, ss.data<T>(),
                          zs.defined() ? zs.data<T>() : nullptr, spec.qmin, spec.qmax, y.data<T>(),
                          nullptr);
  };
  if (x.dtype() == DType::f64) {
    forward(0.0);
  } else {
    forward(0.0f);
  }
  return record(
      y, "fake_quant_lsq", {x, scale, zero_point},
      [xs, ss, zs, layout, spec, grad_factor](const Tensor& g, const NeedsGrad& needs) {
        Tensor gc = g.contiguous();
        Tensor dx = needs[0] ? Tensor::empty(xs.shape(), xs.dtype()) : Tensor();
        Tensor ds = needs[1] ? Tensor::empty(ss.shape(), ss.dtype()) : Tensor();
        Tensor dz = needs.size() > 2 && needs[2] ? Tensor::empty(zs.shape(), zs.dtype()) : Tensor();
        auto backward = [&](auto zero) {
          using T = decltype(zero);
          auto ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
          quant::lsq_backward(xs.data<T>(), gc.data<T>(), xs.numel(), layout, ss.data<T>(), ptr(zs),
                              spec.qmin, spec.qmax, grad_factor, ptr(dx), ptr(ds), ptr(dz));
        };
        if (xs.dtype() == DType::f64) {
          backward(0.0);
        } else {
          backward(0.0f);
        }
        return std::vector<Tensor>{dx, ds, dz};
      });
}

double lsq_grad_factor(int64_t numel, int64_t qmax) {
  return 1.0 / std::sqrt(static_cast<double>(numel) * static_cast<double>(qmax));
}

}  // namespace octet::qat
