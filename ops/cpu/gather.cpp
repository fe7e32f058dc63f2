#include "ops/cpu/gather.h"

#include "ops/cpu/dispatch.h"

namespace octet::cpu {
namespace {

// Calls fn(index_value, data_offset, other_offset) for every element of `index`: data_offset
// addresses the gathered-from tensor with the index substituted along `dim`, other_offset the
// tensor that has index's shape.
template <typename Fn>
void walk(const View& data, int64_t dim, const View& index, const View& other, Fn&& fn) {
  const int64_t rank = index.dim();
  const int64_t* idx = index.ptr<int64_t>();
  const int64_t n = index.numel();
  for (int64_t e = 0; e < n; ++e) {
    int64_t rem = e, idx_off = 0, data_off = 0, other_off = 0, along = 0;
    for (int64_t d = rank - 1; d >= 0; --d) {
      const int64_t i = rem % index.shape[d];
      rem /= index.shape[d];
      idx_off += i * index.strides[d];
      other_off += i * other.strides[d];
      if (d != dim) data_off += i * data.strides[d];
    }
    along = idx[idx_off];
    OCTET_CHECK(along >= 0 && along < data.shape[dim], "gather", "index ", along,
                " out of range for dimension ", dim, " of size ", data.shape[dim]);
    fn(data_off + along * data.strides[dim], other_off);
  }
}

void check(const char* op, const View& data, int64_t dim, const View& index, const View& other) {
  OCTET_CHECK(index.dtype == DType::i64, op, "index must be i64, got ", dtype_name(index.dtype));
  OCTET_CHECK(index.dim() == data.dim() && index.shape == other.shape, op,
              "index ", shape_str(index.shape), " must have the rank of ", shape_str(data.shape),
              " and the shape of ", shape_str(other.shape));
  OCTET_CHECK(dim >= 0 && dim < data.dim(), op, "dimension ", dim, " out of range");
  for (int64_t d = 0; d < data.dim(); ++d)
    OCTET_CHECK(d == dim || index.shape[d] <= data.shape[d], op, "index ", shape_str(index.shape),
                " larger than ", shape_str(data.shape), " in dimension ", d);
  check_same_dtype(op, data, other);
}

}  // namespace

void gather(const View& src, int64_t dim, const View& index, const View& out) {
  check("gather", src, dim, index, out);
  dispatch_float(src.dtype, "gather", [&](auto t) {
    using T = decltype(t);
    const T* s = src.ptr<T>();
    T* o = out.ptr<T>();
    walk(src, dim, index, out, [&](int64_t so, int64_t oo) { o[oo] = s[so]; });
  });
}

void scatter_add(const View& src, int64_t dim, const View& index, const View& dst) {
  check("scatter_add", dst, dim, index, src);
  dispatch_float(src.dtype, "scatter_add", [&](auto t) {
    using T = decltype(t);
    const T* s = src.ptr<T>();
    T* d = dst.ptr<T>();
    walk(dst, dim, index, src, [&](int64_t dof, int64_t so) { d[dof] += s[so]; });
  });
}

}  // namespace octet::cpu
