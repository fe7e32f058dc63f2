#include "qat/fake_quant.h"

#include <cmath>

#include "framework/tensor/autograd.h"
#include "ops/cuda/fake_quant.h"
#include "ops/cuda/fake_quant_fused.h"
#include "ops/on_device.h"
#include "ops/quant/fake_quant.h"
#include "ops/quant/range.h"

namespace octet::qat {
namespace {

// The first element of a contiguous tensor on a CUDA device (data<T>() is for host memory).
template <typename T>
T* dev_ptr(const Tensor& t) {
  OCTET_CHECK(t.dtype() == dtype_of<T>(), "fake_quant", "expected ", dtype_name(dtype_of<T>()),
              ", got ", t.str());
  return static_cast<T*>(t.view().data);
}
template <typename T>
T* dev_ptr_or_null(const Tensor& t) {
  return t.defined() ? dev_ptr<T>(t) : nullptr;
}

// The STE mask applied to the upstream gradient: dx = dy * mask.
Tensor masked_gradient(const Tensor& grad_out, const Tensor& mask, DType dtype) {
  const Device dev = common_device("fake_quant", {grad_out.device(), mask.device()});
  Tensor g = grad_out.contiguous();
  Tensor dx = Tensor::empty(g.shape(), dtype, dev);
  const int64_t n = g.numel();
  if (on_cuda(dev)) {
    const auto* m = static_cast<const uint8_t*>(mask.view().data);
    if (dtype == DType::f64) {
      cuda::apply_ste_mask(dev_ptr<double>(g), m, n, dev_ptr<double>(dx), dev.index);
    } else {
      cuda::apply_ste_mask(dev_ptr<float>(g), m, n, dev_ptr<float>(dx), dev.index);
    }
    return dx;
  }
  const uint8_t* m = mask.data<uint8_t>();
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
  return fake_quant_fused(x, spec, params, ste, {}).y;
}

FakeQuantResult fake_quant_fused(const Tensor& x, const quant::QuantSpec& spec,
                                 const QParams& params, Ste ste, const FakeQuantExtras& extras) {
  spec.validate();
  check_qparams("fake_quant", spec, params, x.shape());
  OCTET_CHECK(x.dtype() == DType::f32 || (x.dtype() == DType::f64 && !spec.is_fp8()), "fake_quant",
              spec.str(), " computes in f32", spec.is_fp8() ? "" : " or f64", ", got ", x.str());
  const DType out_dtype = extras.output_dtype.value_or(x.dtype());
  OCTET_CHECK(out_dtype == x.dtype() || (x.dtype() == DType::f32 && out_dtype == DType::bf16),
              "fake_quant", "writes ", x.str(), " as its own dtype or, from f32, as bf16; not ",
              dtype_name(out_dtype));
  const quant::ScaleLayout layout = quant::scale_layout(spec, x.shape());
  OCTET_CHECK(!extras.amax || (x.dtype() == DType::f32 && layout.count == 1), "fake_quant",
              "a fused amax is for f32 tensors with one scale; ", spec.str(), " on ", x.str(),
              " has ", layout.count);
  const Device dev = params.zero_point.defined()
                         ? common_device("fake_quant", {x.device(), params.scale.device(),
                                                        params.zero_point.device()})
                         : common_device("fake_quant", {x.device(), params.scale.device()});
  Tensor xs = x.detach().contiguous();
  const bool want_mask = ste == Ste::kClipped && x.requires_grad();
  Tensor mask = want_mask ? Tensor::empty(x.shape(), DType::u8, dev) : Tensor();
  const Tensor scale = params.scale.detach().contiguous();
  const Tensor zp =
      params.zero_point.defined() ? params.zero_point.detach().contiguous() : Tensor();
  FakeQuantResult result;
  if (extras.amax) result.amax = Tensor::empty({1}, DType::f32, dev);
  // On a GPU the pass also flags whether anything clipped, so the backward can skip the mask.
  Tensor clipped;
  if (on_cuda(dev)) {
    result.y = Tensor::empty(x.shape(), out_dtype, dev);
    uint8_t* m = want_mask ? static_cast<uint8_t*>(mask.view().data) : nullptr;
    if (x.dtype() == DType::f32) {
      if (want_mask) clipped = Tensor::zeros({1}, DType::i32, dev);
      const cuda::FakeQuantOutputs out{result.y.view().data, out_dtype, m,
                                       extras.amax ? dev_ptr<float>(result.amax) : nullptr,
                                       want_mask ? dev_ptr<int32_t>(clipped) : nullptr};
      if (spec.is_fp8()) {
        cuda::fake_quant_fp8_fused(dev_ptr<float>(xs), xs.numel(), layout, dev_ptr<float>(scale),
                                   quant::fp8_format_of(spec.format), spec.saturate, out,
                                   dev.index);
      } else {
        cuda::fake_quant_int_fused(dev_ptr<float>(xs), xs.numel(), layout, dev_ptr<float>(scale),
                                   dev_ptr_or_null<float>(zp), spec.qmin, spec.qmax, out,
                                   dev.index);
      }
    } else {
      const Tensor scale64 = scale.to(DType::f64);
      const Tensor zp64 = zp.defined() ? zp.to(DType::f64) : Tensor();
      cuda::fake_quant_int(dev_ptr<double>(xs), xs.numel(), layout, dev_ptr<double>(scale64),
                           dev_ptr_or_null<double>(zp64), spec.qmin, spec.qmax,
                           dev_ptr<double>(result.y), m, dev.index);
    }
  } else {
    // The CPU computes y in x's dtype and casts it (the same rounding the device kernel does in
    // place); amax is range.h's, a second pass.
    Tensor y = Tensor::empty(x.shape(), x.dtype(), dev);
    uint8_t* m = want_mask ? mask.data<uint8_t>() : nullptr;
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
    if (extras.amax) {
      quant::abs_max(xs.data<float>(), xs.numel(), layout, result.amax.data<float>());
    }
    result.y = out_dtype == x.dtype() ? y : y.to(out_dtype);
  }
  // The gradient stays in x's dtype whatever y's is (autocast keeps gradients f32).
  const DType dtype = x.dtype();
  result.y = record(
      result.y, "fake_quant", {x}, [mask, clipped, dtype](const Tensor& g, const NeedsGrad&) {
        if (clipped.defined() && g.dtype() == DType::f32 && gradient_is_exclusive(g)) {
          cuda::apply_ste_mask_in_place(dev_ptr<float>(g), mask.view().ptr<uint8_t>(), g.numel(),
                                        dev_ptr<int32_t>(clipped), g.device().index);
          return std::vector<Tensor>{g};
        }
        const Tensor g_in = g.dtype() == dtype ? g : g.to(dtype);
        return std::vector<Tensor>{mask.defined() ? masked_gradient(g_in, mask, dtype) : g_in};
      });
  return result;
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
  const Device dev =
      zero_point.defined()
          ? common_device("fake_quant_lsq", {x.device(), scale.device(), zero_point.device()})
          : common_device("fake_quant_lsq", {x.device(), scale.device()});
  Tensor xs = x.detach().contiguous(), ss = scale.detach().contiguous();
  Tensor zs = zero_point.defined() ? zero_point.detach().contiguous() : Tensor();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), dev);
  auto forward = [&](auto zero) {
    using T = decltype(zero);
    if (on_cuda(dev)) {
      cuda::fake_quant_int(dev_ptr<T>(xs), xs.numel(), layout, dev_ptr<T>(ss),
                           dev_ptr_or_null<T>(zs), spec.qmin, spec.qmax, dev_ptr<T>(y), nullptr,
                           dev.index);
      return;
    }
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
        const Device dev = common_device("fake_quant_lsq", {g.device(), xs.device()});
        Tensor gc = g.contiguous();
        Tensor dx = needs[0] ? Tensor::empty(xs.shape(), xs.dtype(), dev) : Tensor();
        Tensor ds = needs[1] ? Tensor::empty(ss.shape(), ss.dtype(), dev) : Tensor();
        Tensor dz =
            needs.size() > 2 && needs[2] ? Tensor::empty(zs.shape(), zs.dtype(), dev) : Tensor();
        auto backward = [&](auto zero) {
          using T = decltype(zero);
          if (on_cuda(dev)) {
            cuda::lsq_backward(dev_ptr<T>(xs), dev_ptr<T>(gc), xs.numel(), layout, dev_ptr<T>(ss),
                               dev_ptr_or_null<T>(zs), spec.qmin, spec.qmax, grad_factor,
                               dev_ptr_or_null<T>(dx), dev_ptr_or_null<T>(ds),
                               dev_ptr_or_null<T>(dz), dev.index);
            return;
          }
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
