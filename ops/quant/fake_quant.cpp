#include "ops/quant/fake_quant.h"

#include <omp.h>

#include <cmath>
#include <vector>

#include "ops/quant/scale_runs.h"

namespace octet::quant {

using detail::for_each_scale_run;
using detail::rounded_zero_point;

namespace {

// One run of equal scale. Restrict-qualified locals: the u8 mask stores may alias anything, so
// without them the compiler reloads every pointer after each store and cannot vectorise.
template <typename T>
void fake_quant_int_run(const T* __restrict x, int64_t n, T s, T zp, T lo, T hi, T* __restrict y,
                        uint8_t* __restrict mask) {
  const T inv_s = T(1) / s;
  // q stays in T: beyond 2^24 the addition of zp may round, but such a q is far outside
  // [qmin, qmax] either way, so the clamp and the mask come out the same as in int64.
  auto value = [&](T q) {
    const T clamped = std::min(std::max(q, lo), hi);
    return q != q ? q : (clamped - zp) * s;  // NaN stays visible rather than becoming lo * s
  };
  if (mask == nullptr) {
    for (int64_t i = 0; i < n; ++i) y[i] = value(std::nearbyint(x[i] * inv_s) + zp);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const T q = std::nearbyint(x[i] * inv_s) + zp;
    y[i] = value(q);
    mask[i] = (q >= lo) & (q <= hi);
  }
}

}  // namespace

template <typename T>
void fake_quant_int(const T* x, int64_t n, const ScaleLayout& layout, const T* scale,
                    const T* zero_point, int64_t qmin, int64_t qmax, T* y, uint8_t* mask) {
  const T lo = T(qmin), hi = T(qmax);
  for_each_scale_run(n, layout, [&](int64_t begin, int64_t end, int64_t c) {
    const T zp = rounded_zero_point(zero_point, c, qmin, qmax);
    fake_quant_int_run(x + begin, end - begin, scale[c], zp, lo, hi, y + begin,
                       mask == nullptr ? nullptr : mask + begin);
  });
}

namespace {

template <typename T>
void apply_ste_mask_run(const T* __restrict dy, const uint8_t* __restrict mask, int64_t n,
                        T* __restrict dx) {
  for (int64_t i = 0; i < n; ++i) dx[i] = mask[i] ? dy[i] : T(0);
}

}  // namespace

template <typename T>
void apply_ste_mask(const T* dy, const uint8_t* mask, int64_t n, T* dx) {
  const ScaleLayout whole{n, 1, {}};
  for_each_scale_run(n, whole, [&](int64_t begin, int64_t end, int64_t) {
    apply_ste_mask_run(dy + begin, mask + begin, end - begin, dx + begin);
  });
}

template void apply_ste_mask<float>(const float*, const uint8_t*, int64_t, float*);
template void apply_ste_mask<double>(const double*, const uint8_t*, int64_t, double*);

void fake_quant_fp8(const float* x, int64_t n, const ScaleLayout& layout, const float* scale,
                    Fp8Format format, bool saturate, float* y, uint8_t* mask) {
  const float* table = fp8_decode_table(format);
  const float max = static_cast<float>(fp8_max(format));
  for_each_scale_run(n, layout, [&](int64_t begin, int64_t end, int64_t c) {
    const float s = scale[c], inv_s = 1.0f / s;
    // Encode a run through the bulk kernel into a small stack buffer, then decode by table.
    constexpr int64_t kBlock = 1024;
    uint8_t codes[kBlock];
    for (int64_t b = begin; b < end; b += kBlock) {
      const int64_t len = std::min(kBlock, end - b);
      fp8_quantize(x + b, len, s, format, saturate, codes);
      for (int64_t i = 0; i < len; ++i) y[b + i] = table[codes[i]] * inv_s;
      if (mask != nullptr) {
        for (int64_t i = 0; i < len; ++i) mask[b + i] = std::fabs(x[b + i] * s) <= max ? 1 : 0;
      }
    }
  });
}

template <typename T>
void lsq_backward(const T* x, const T* dy, int64_t n, const ScaleLayout& layout, const T* scale,
                  const T* zero_point, int64_t qmin, int64_t qmax, double grad_factor, T* dx,
                  T* dscale, T* dzero_point) {
  const T lo = T(qmin), hi = T(qmax);
  const int threads = omp_get_max_threads();
  // One accumulator row per thread, summed in a fixed order afterwards: deterministic for a
  // given thread count.
  std::vector<double> acc_scale(static_cast<size_t>(threads) * layout.count, 0.0);
  std::vector<double> acc_zp(static_cast<size_t>(threads) * layout.count, 0.0);
  for_each_scale_run(n, layout, [&](int64_t begin, int64_t end, int64_t c) {
    const T s = scale[c], inv_s = T(1) / s;
    const T zp = rounded_zero_point(zero_point, c, qmin, qmax);
    const T below = lo - zp, above = hi - zp;
    double sum_scale = 0.0, sum_zp = 0.0;
    for (int64_t i = begin; i < end; ++i) {
      const T q = std::nearbyint(x[i] * inv_s) + zp;
      const bool in_range = q >= lo && q <= hi;
      if (dx != nullptr) dx[i] = in_range ? dy[i] : T(0);
      const T clamped = q < lo ? lo : (q > hi ? hi : q);
      const T y = (clamped - zp) * s;
      const T g_scale = in_range ? (y - x[i]) * inv_s : (q < lo ? below : above);
      sum_scale += static_cast<double>(dy[i] * g_scale);
      sum_zp += in_range ? 0.0 : static_cast<double>(-dy[i] * s);
    }
    const size_t row = static_cast<size_t>(omp_get_thread_num()) * layout.count;
    acc_scale[row + c] += sum_scale;
    acc_zp[row + c] += sum_zp;
  });
  for (int64_t c = 0; c < layout.count; ++c) {
    double total_scale = 0.0, total_zp = 0.0;
    for (int t = 0; t < threads; ++t) {
      total_scale += acc_scale[static_cast<size_t>(t) * layout.count + c];
      total_zp += acc_zp[static_cast<size_t>(t) * layout.count + c];
    }
    if (dscale != nullptr) dscale[c] = static_cast<T>(total_scale * grad_factor);
    if (dzero_point != nullptr) dzero_point[c] = static_cast<T>(total_zp * grad_factor);
  }
}

template void fake_quant_int<float>(const float*, int64_t, const ScaleLayout&, const float*,
                                    const float*, int64_t, int64_t, float*, uint8_t*);
template void fake_quant_int<double>(const double*, int64_t, const ScaleLayout&, const double*,
                                     const double*, int64_t, int64_t, double*, uint8_t*);
template void lsq_backward<float>(const float*, const float*, int64_t, const ScaleLayout&,
                                  const float*, const float*, int64_t, int64_t, double, float*,
                                  float*, float*);
template void lsq_backward<double>(const double*, const double*, int64_t, const ScaleLayout&,
                                   const double*, const double*, int64_t, int64_t, double, double*,
                                   double*, double*);

}  // namespace octet::quant
