#include "ops/cpu/rope.h"

#include <cmath>
#include <vector>

#include "ops/cpu/dispatch.h"

namespace octet::cpu {
namespace {

constexpr int64_t kMinParallelElements = 1 << 15;
// The table is built by stepping each pair's rotation one position at a time and re-anchored on
// an exact sin/cos every this many positions: about 16x fewer libm calls than evaluating every
// entry, with a drift of a few double ulps, far below f32 (or f64 gradcheck) resolution.
constexpr int64_t kAnchorEvery = 16;

// For each position t: cos of the D/2 angles, then their sin (one row of D values).
template <typename T>
std::vector<T> rotation_table(int64_t positions, int64_t dim, double base, int64_t offset) {
  const int64_t half = dim / 2;
  std::vector<T> table(positions * dim);
  for (int64_t i = 0; i < half; ++i) {
    const double inv_freq = std::pow(base, -2.0 * static_cast<double>(i) / dim);
    const double step_cos = std::cos(inv_freq), step_sin = std::sin(inv_freq);
    double c = 1, s = 0;
    for (int64_t t = 0; t < positions; ++t) {
      if (t % kAnchorEvery == 0) {
        const double angle = static_cast<double>(offset + t) * inv_freq;
        c = std::cos(angle);
        s = std::sin(angle);
      } else {
        const double next_c = c * step_cos - s * step_sin;
        s = s * step_cos + c * step_sin;
        c = next_c;
      }
      table[t * dim + i] = static_cast<T>(c);
      table[t * dim + half + i] = static_cast<T>(s);
    }
  }
  return table;
}

template <typename T>
void rope_typed(const View& x, double base, int64_t offset, bool inverse, const View& out) {
  const int64_t heads = x.shape[1], positions = x.shape[2], dim = x.shape[3];
  const int64_t half = dim / 2;
  const int64_t rows = x.shape[0] * heads * positions;
  const std::vector<T> table = rotation_table<T>(positions, dim, base, offset);
  const T* px = x.ptr<T>();
  T* py = out.ptr<T>();
  const T sign = inverse ? T(-1) : T(1);
#pragma omp parallel for schedule(static) if (rows * dim >= kMinParallelElements)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = r % positions, bh = r / positions;
    const int64_t h = bh % heads, b = bh / heads;
    const T* xr = px + b * x.strides[0] + h * x.strides[1] + t * x.strides[2];
    T* yr = py + b * out.strides[0] + h * out.strides[1] + t * out.strides[2];
    const T* cos_t = table.data() + t * dim;
    const T* sin_t = cos_t + half;
#pragma omp simd
    for (int64_t i = 0; i < half; ++i) {
      const T lo = xr[i], hi = xr[i + half];
      const T s = sign * sin_t[i];
      yr[i] = lo * cos_t[i] - hi * s;
      yr[i + half] = lo * s + hi * cos_t[i];
    }
  }
}

}  // namespace

void rope(const View& x, double base, int64_t offset, bool inverse, const View& out) {
  OCTET_CHECK(x.dim() == 4 && x.shape[3] % 2 == 0, "rope", "expects [B, H, T, D] with D even, got ",
              shape_str(x.shape));
  OCTET_CHECK(out.shape == x.shape, "rope", "output ", shape_str(out.shape), " differs from input ",
              shape_str(x.shape));
  OCTET_CHECK((x.strides[3] == 1 || x.shape[3] <= 1) && (out.strides[3] == 1 || out.shape[3] <= 1),
              "rope", "the last dimension needs a unit stride");
  OCTET_CHECK(offset >= 0, "rope", "position offset must be >= 0, got ", offset);
  OCTET_CHECK(base > 0, "rope", "base must be > 0, got ", base);
  check_same_dtype("rope", x, out);
  if (x.numel() == 0) return;
  dispatch_float(x.dtype, "rope",
                 [&](auto t) { rope_typed<decltype(t)>(x, base, offset, inverse, out); });
}

}  // namespace octet::cpu
