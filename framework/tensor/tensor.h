#pragma once
// Tensor: a strided view onto shared Storage, plus the autograd bookkeeping (requires_grad, grad,
// the Node that produced it). Cheap to copy (a shared pointer); views share storage.
#include <memory>
#include <string>
#include <vector>

#include "framework/random.h"
#include "framework/tensor/storage.h"
#include "ops/error.h"
#include "ops/view.h"

namespace octet {

struct Node;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  Shape strides;  // in elements
  DType dtype = DType::f32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;  // null for leaves and for tensors outside the graph
};

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<double>() {
  return DType::f64;
}
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::i64;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::i32;
}
template <>
constexpr DType dtype_of<int8_t>() {
  return DType::i8;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::u8;
}

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories ----
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = {});
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = {});
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = {});
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                     Device device = {});
  static Tensor scalar(double value, DType dtype = DType::f32) { return full({}, value, dtype); }
  static Tensor arange(int64_t n, DType dtype = DType::i64);
  static Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::f32,
                      double stddev = 1.0);
  static Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::f32, double lo = 0,
                     double hi = 1);
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  // A tensor over memory owned by `owner` (an mmap'd archive); no copy.
  static Tensor wrap(const View& view, std::shared_ptr<void> owner);

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl()->shape; }
  const Shape& strides() const { return impl()->strides; }
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return numel_of(shape()); }
  DType dtype() const { return impl()->dtype; }
  Device device() const { return impl()->storage->device(); }
  bool is_contiguous() const { return view().is_contiguous(); }
  std::string str() const;  // "f32[2, 3]"

  // ---- data access (host memory: data<T>, to_vector and item copy a CUDA tensor first) ----
  View view() const;
  template <typename T>
  T* data() const;
  template <typename T>
  std::vector<T> to_vector() const;  // a contiguous copy; T must match dtype
  double item() const;               // the single element, converted to double
  void* raw_data() const;            // first element, any dtype

  // ---- shape views and copies (differentiable; defined in framework/functional/shape.cpp) ----
  Tensor reshape(const Shape& shape) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end) const;
  Tensor contiguous() const;
  Tensor to(DType dtype) const;
  // The same values on another device (differentiable; the gradient moves back).
  Tensor to(const Device& device) const;
  Tensor cpu() const { return to(Device{}); }
  Tensor cuda(int index = 0) const { return to(Device{DeviceType::cuda, index}); }
  Tensor clone() const;

  // ---- autograd ----
  bool requires_grad() const { return impl()->requires_grad; }
  Tensor& set_requires_grad(bool on = true);
  Tensor grad() const { return Tensor(impl()->grad); }
  void set_grad(const Tensor& g);
  void zero_grad() { impl()->grad.reset(); }
  const std::shared_ptr<Node>& grad_fn() const { return impl()->grad_fn; }
  bool is_leaf() const { return impl()->grad_fn == nullptr; }
  // Reverse-mode gradient of this tensor (a scalar unless `grad` is given) into every leaf.
  void backward(const Tensor& grad = Tensor()) const;
  // Same storage, outside the graph.
  Tensor detach() const;

  TensorImpl* impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }
  bool shares_storage(const Tensor& o) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// A new tensor with the given shape/strides/offset over `base`'s storage (no autograd link).
Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset);

template <typename T>
T* Tensor::data() const {
  OCTET_CHECK(dtype() == dtype_of<T>(), "tensor", "data<", dtype_name(dtype_of<T>()), ">() on a ",
              str(), " tensor");
  OCTET_CHECK(device().type == DeviceType::cpu, "tensor", "data<", dtype_name(dtype_of<T>()),
              ">() reads host memory but ", str(), " is on ", device().str(),
              "; copy it with .cpu() first");
  return static_cast<T*>(raw_data());
}

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  OCTET_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape), "tensor",
              "from_vector: ", values.size(), " values for shape ", shape_str(shape));
  Tensor t = empty(shape, dtype_of<T>());
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = contiguous().cpu();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}

}  // namespace octet
