#include "ops/cpu/broadcast.h"

#include "ops/error.h"

namespace octet::cpu {

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    OCTET_CHECK(da == db || da == 1 || db == 1, op, "shapes do not broadcast: ", shape_str(a),
                " vs ", shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

View broadcast_to(const View& v, const Shape& shape) {
  OCTET_CHECK(v.shape.size() <= shape.size(), "broadcast", "cannot broadcast ",
              shape_str(v.shape), " to ", shape_str(shape));
  View out = v;
  out.shape = shape;
  out.strides.assign(shape.size(), 0);
  const size_t lead = shape.size() - v.shape.size();
  for (size_t i = 0; i < v.shape.size(); ++i) {
    OCTET_CHECK(v.shape[i] == shape[lead + i] || v.shape[i] == 1, "broadcast", "cannot broadcast ",
                shape_str(v.shape), " to ", shape_str(shape));
    out.strides[lead + i] = v.shape[i] == 1 ? 0 : v.strides[i];
  }
  return out;
}

}  // namespace octet::cpu
