#include "framework/functional/shape.h"

#include <algorithm>
#include <numeric>

#include "framework/tensor/autograd.h"
#include "ops/cpu/copy.h"
#include "ops/cpu/gather.h"
#include "ops/cuda/gather.h"
#include "ops/device_copy.h"
#include "ops/on_device.h"

namespace octet {
namespace {

int64_t wrap_dim(const char* op, int64_t d, int64_t rank) {
  OCTET_CHECK(d >= -rank && d < rank, op, "dimension ", d, " out of range for rank ", rank);
  return d < 0 ? d + rank : d;
}

Shape infer_shape(const Shape& requested, int64_t numel, const Shape& from) {
  Shape s = requested;
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      OCTET_CHECK(infer_at < 0, "reshape", "only one -1 allowed in ", shape_str(requested));
      infer_at = static_cast<int64_t>(i);
    } else {
      known *= s[i];
    }
  }
  if (infer_at >= 0) {
    OCTET_CHECK(known > 0 && numel % known == 0, "reshape", "cannot reshape ", shape_str(from),
                " to ", shape_str(requested));
    s[infer_at] = numel / known;
  }
  OCTET_CHECK(numel_of(s) == numel, "reshape", "cannot reshape ", shape_str(from), " to ",
              shape_str(requested));
  return s;
}

Tensor copy_of(const Tensor& x, DType dtype) {
  Tensor out = Tensor::empty(x.shape(), dtype, x.device());
  copy_any(x.view(), out.view());
  return out;
}

}  // namespace

Tensor Tensor::reshape(const Shape& requested) const {
  const Shape shape = infer_shape(requested, numel(), this->shape());
  if (shape == this->shape()) return *this;
  Tensor src = is_contiguous() ? *this : contiguous();
  Tensor out = make_view(src, shape, contiguous_strides(shape), src.impl()->offset);
  Shape in_shape = this->shape();
  return record(out, "reshape", {src}, [in_shape](const Tensor& g, const NeedsGrad&) {
    return std::vector<Tensor>{g.reshape(in_shape)};
  });
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  const int64_t rank = dim();
  OCTET_CHECK(static_cast<int64_t>(dims.size()) == rank, "permute", "needs ", rank,
              " dimensions for ", str());
  Shape shape(rank), st(rank);
  std::vector<int64_t> inverse(rank, -1);
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t d = wrap_dim("permute", dims[i], rank);
    OCTET_CHECK(inverse[d] < 0, "permute", "dimension ", d, " repeated");
    inverse[d] = i;
    shape[i] = this->shape()[d];
    st[i] = strides()[d];
  }
  Tensor out = make_view(*this, shape, st, impl()->offset);
  return record(out, "permute", {*this}, [inverse](const Tensor& g, const NeedsGrad&) {
    return std::vector<Tensor>{g.permute(inverse)};
  });
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  std::vector<int64_t> dims(dim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[wrap_dim("transpose", d0, dim())], dims[wrap_dim("transpose", d1, dim())]);
  return permute(dims);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end) const {
  d = wrap_dim("slice", d, dim());
  const int64_t n = shape()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  end = std::min(end, n);
  OCTET_CHECK(start >= 0 && start <= end, "slice", "range [", start, ", ", end,
              ") invalid for dimension ", d, " of ", str());
  Shape shape = this->shape();
  shape[d] = end - start;
  Tensor out = make_view(*this, shape, strides(), impl()->offset + start * strides()[d]);
  Shape in_shape = this->shape();
  return record(out, "slice", {*this},
                [in_shape, d, start, end](const Tensor& g, const NeedsGrad&) {
                  Tensor dx = Tensor::zeros(in_shape, g.dtype(), g.device());
                  copy_any(g.view(), dx.slice(d, start, end).view());
                  return std::vector<Tensor>{dx};
                });
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return record(copy_of(*this, dtype()), "contiguous", {*this},
                [](const Tensor& g, const NeedsGrad&) { return std::vector<Tensor>{g}; });
}

Tensor Tensor::clone() const {
  return record(copy_of(*this, dtype()), "clone", {*this},
                [](const Tensor& g, const NeedsGrad&) { return std::vector<Tensor>{g}; });
}

Tensor Tensor::to(const Device& target) const {
  if (target == device()) return *this;
  // Across devices bytes move as they are: make the source contiguous on its own device first.
  Tensor src = contiguous();
  Tensor out = Tensor::empty(shape(), dtype(), target);
  copy_any(src.view(), out.view());
  const Device source = device();
  return record(out, "to_device", {src}, [source](const Tensor& g, const NeedsGrad&) {
    return std::vector<Tensor>{g.to(source)};
  });
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  const DType source = dtype();
  return record(copy_of(*this, target), "to", {*this}, [source](const Tensor& g, const NeedsGrad&) {
    return std::vector<Tensor>{g.to(source)};
  });
}

Tensor concat(const std::vector<Tensor>& parts, int64_t dim) {
  OCTET_CHECK(!parts.empty(), "concat", "nothing to concatenate");
  const int64_t rank = parts[0].dim();
  dim = wrap_dim("concat", dim, rank);
  Shape shape = parts[0].shape();
  shape[dim] = 0;
  std::vector<int64_t> sizes;
  for (const auto& p : parts) {
    OCTET_CHECK(p.dim() == rank && p.dtype() == parts[0].dtype(), "concat", "part ", p.str(),
                " does not match ", parts[0].str());
    for (int64_t d = 0; d < rank; ++d)
      OCTET_CHECK(d == dim || p.size(d) == parts[0].size(d), "concat", "part ", p.str(),
                  " does not match ", parts[0].str(), " outside dimension ", dim);
    shape[dim] += p.size(dim);
    sizes.push_back(p.size(dim));
  }
  Tensor out = Tensor::empty(shape, parts[0].dtype(), parts[0].device());
  {
    NoGradGuard no_grad;
    int64_t at = 0;
    for (const auto& p : parts) {
      copy_any(p.view(), out.slice(dim, at, at + p.size(dim)).view());
      at += p.size(dim);
    }
  }
  return record(out, "concat", parts, [sizes, dim](const Tensor& g, const NeedsGrad& needs) {
    std::vector<Tensor> grads;
    int64_t at = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      grads.push_back(needs[i] ? g.slice(dim, at, at + sizes[i]).contiguous() : Tensor());
      at += sizes[i];
    }
    return grads;
  });
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  OCTET_CHECK(total == x.size(dim), "split", "sizes add up to ", total, " but dimension ", dim,
              " of ", x.str(), " has ", x.size(dim));
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t s : sizes) {
    out.push_back(x.slice(dim, at, at + s));
    at += s;
  }
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  dim = wrap_dim("gather", dim, x.dim());
  const Device dev = common_device("gather", {x.device(), index.device()});
  Tensor idx = index.contiguous();
  Tensor out = Tensor::empty(idx.shape(), x.dtype(), dev);
  if (on_cuda(dev)) {
    cuda::gather(x.view(), dim, idx.view(), out.view());
  } else {
    cpu::gather(x.view(), dim, idx.view(), out.view());
  }
  Shape in_shape = x.shape();
  return record(out, "gather", {x}, [in_shape, dim, idx, dev](const Tensor& g, const NeedsGrad&) {
    Tensor dx = Tensor::zeros(in_shape, g.dtype(), dev);
    if (on_cuda(dev)) {
      cuda::scatter_add(g.view(), dim, idx.view(), dx.view());
    } else {
      cpu::scatter_add(g.view(), dim, idx.view(), dx.view());
    }
    return std::vector<Tensor>{dx};
  });
}

}  // namespace octet
