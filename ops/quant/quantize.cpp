#include "ops/quant/quantize.h"

#include <cmath>

#include "ops/quant/scale_runs.h"

namespace octet::quant {

using detail::for_each_scale_run;
using detail::rounded_zero_point;

namespace {

// One run of equal scale. restrict and the int32 step let GCC vectorise the loop (round, clamp,
// convert, narrow); a direct float -> int8 conversion keeps it scalar.
template <typename Code>
void quantize_run(const float* __restrict x, int64_t n, float inv_s, float zp, float lo, float hi,
                  Code* __restrict out) {
  for (int64_t i = 0; i < n; ++i) {
    const float q = std::nearbyint(x[i] * inv_s) + zp;
    // NaN has no code: it maps to qmin (as PyTorch's quantize does) rather than to UB.
    const float clamped = q > lo ? (q < hi ? q : hi) : lo;
    out[i] = static_cast<Code>(static_cast<int32_t>(clamped));
  }
}

}  // namespace

template <typename Code>
void quantize_int(const float* x, int64_t n, const ScaleLayout& layout, const float* scale,
                  const float* zero_point, int64_t qmin, int64_t qmax, Code* out) {
  const float lo = static_cast<float>(qmin), hi = static_cast<float>(qmax);
  for_each_scale_run(n, layout, [&](int64_t begin, int64_t end, int64_t c) {
    quantize_run(x + begin, end - begin, 1.0f / scale[c],
                 rounded_zero_point(zero_point, c, qmin, qmax), lo, hi, out + begin);
  });
}

template <typename Code>
void dequantize_int(const Code* q, int64_t n, const ScaleLayout& layout, const float* scale,
                    const float* zero_point, int64_t qmin, int64_t qmax, float* out) {
  for_each_scale_run(n, layout, [&](int64_t begin, int64_t end, int64_t c) {
    const float s = scale[c];
    const float zp = rounded_zero_point(zero_point, c, qmin, qmax);
    for (int64_t i = begin; i < end; ++i) out[i] = (static_cast<float>(q[i]) - zp) * s;
  });
}

void quantize_fp8(const float* x, int64_t n, const ScaleLayout& layout, const float* scale,
                  Fp8Format format, bool saturate, uint8_t* out) {
  for_each_scale_run(n, layout, [&](int64_t begin, int64_t end, int64_t c) {
    fp8_quantize(x + begin, end - begin, scale[c], format, saturate, out + begin);
  });
}

void dequantize_fp8(const uint8_t* q, int64_t n, const ScaleLayout& layout, const float* scale,
                    Fp8Format format, float* out) {
  const float* table = fp8_decode_table(format);
  for_each_scale_run(n, layout, [&](int64_t begin, int64_t end, int64_t c) {
    const float inv_s = 1.0f / scale[c];
    for (int64_t i = begin; i < end; ++i) out[i] = table[q[i]] * inv_s;
  });
}

template void quantize_int<int8_t>(const float*, int64_t, const ScaleLayout&, const float*,
                                   const float*, int64_t, int64_t, int8_t*);
template void quantize_int<uint8_t>(const float*, int64_t, const ScaleLayout&, const float*,
                                    const float*, int64_t, int64_t, uint8_t*);
template void dequantize_int<int8_t>(const int8_t*, int64_t, const ScaleLayout&, const float*,
                                     const float*, int64_t, int64_t, float*);
template void dequantize_int<uint8_t>(const uint8_t*, int64_t, const ScaleLayout&, const float*,
                                      const float*, int64_t, int64_t, float*);

}  // namespace octet::quant
