#include "framework/tensor/tensor.h"

#include <sstream>

#include "framework/tensor/autograd.h"
#include "ops/cuda/runtime.h"
#include "ops/device_copy.h"

namespace octet {

TensorImpl* Tensor::impl() const {
  OCTET_CHECK(impl_ != nullptr, "tensor", "use of an undefined tensor");
  return impl_.get();
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape)
    OCTET_CHECK(d >= 0, "tensor", "negative dimension in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(numel_of(shape) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (device.type == DeviceType::cuda)
    cuda::zero_bytes(t.raw_data(), device.index, t.numel() * dtype_size(dtype));
  else
    std::memset(t.raw_data(), 0, t.numel() * dtype_size(dtype));
  return t;
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  fill_any(t.view(), value);
  return t;
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  Tensor t = empty({n}, DType::f64);
  double* p = t.data<double>();
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<double>(i);
  return dtype == DType::f64 ? t : t.to(dtype);
}

Tensor Tensor::randn(const Shape& shape, Generator& gen, DType dtype, double stddev) {
  Tensor t = empty(shape, DType::f64);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = gen.normal() * stddev;
  return dtype == DType::f64 ? t : t.to(dtype);
}

Tensor Tensor::rand(const Shape& shape, Generator& gen, DType dtype, double lo, double hi) {
  Tensor t = empty(shape, DType::f64);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = lo + (hi - lo) * gen.uniform();
  return dtype == DType::f64 ? t : t.to(dtype);
}

Tensor Tensor::wrap(const View& view, std::shared_ptr<void> owner) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(view.data, view.numel() * dtype_size(view.dtype),
                                            view.device, std::move(owner));
  impl->shape = view.shape;
  impl->strides = view.strides;
  impl->dtype = view.dtype;
  return Tensor(std::move(impl));
}

int64_t Tensor::size(int64_t d) const {
  const int64_t n = dim();
  OCTET_CHECK(d >= -n && d < n, "tensor", "dimension ", d, " out of range for ", str());
  return shape()[d < 0 ? d + n : d];
}

std::string Tensor::str() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype())) + shape_str(shape());
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl()->storage->data()) + impl()->offset * dtype_size(dtype());
}

View Tensor::view() const {
  View v;
  v.data = raw_data();
  v.dtype = dtype();
  v.device = device();
  v.shape = shape();
  v.strides = strides();
  return v;
}

double Tensor::item() const {
  OCTET_CHECK(numel() == 1, "item", "needs exactly one element, got ", str());
  View src = view();
  src.shape = {};
  src.strides = {};
  Tensor t = empty({}, DType::f64, device());
  copy_any(src, t.view());
  if (t.device().type != DeviceType::cpu) t = t.cpu();
  return *t.data<double>();
}

Tensor& Tensor::set_requires_grad(bool on) {
  OCTET_CHECK(!on || is_floating(dtype()), "requires_grad",
              "only floating tensors can require "
              "grad, got ",
              str());
  OCTET_CHECK(is_leaf(), "requires_grad", "only leaves can be marked; use detach() first");
  impl()->requires_grad = on;
  return *this;
}

void Tensor::set_grad(const Tensor& g) {
  OCTET_CHECK(!g.defined() || g.shape() == shape(), "set_grad", "gradient ", g.str(),
              " does not match tensor ", str());
  impl()->grad = g.impl_;
}

void Tensor::backward(const Tensor& grad) const { run_backward(*this, grad); }

Tensor Tensor::detach() const {
  Tensor t = make_view(*this, shape(), strides(), impl()->offset);
  return t;
}

bool Tensor::shares_storage(const Tensor& o) const {
  return defined() && o.defined() && impl()->storage == o.impl()->storage;
}

Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->offset = offset;
  impl->shape = shape;
  impl->strides = strides;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

}  // namespace octet
