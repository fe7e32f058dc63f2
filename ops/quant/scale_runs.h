#pragma once
// Walks a contiguous array in parallel chunks, split where the scale changes, so every quant
// kernel handles all granularities with one inner loop per run of equal scale.
#include <algorithm>
#include <cstdint>

#include "ops/quant/quant_spec.h"
#include "ops/quant/scale_rules.h"

namespace octet::quant::detail {

// Elements per parallel chunk: small enough to balance two threads on a 1M-element activation,
// large enough that a small weight runs on one thread without a parallel region's overhead.
inline constexpr int64_t kScaleRunChunk = 1 << 15;

// Calls body(begin, end, scale_index) over [0, n); every element is visited once with the scale
// its ScaleLayout assigns.
template <typename Body>
void for_each_scale_run(int64_t n, const ScaleLayout& layout, Body&& body) {
  const int64_t chunks = (n + kScaleRunChunk - 1) / kScaleRunChunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t hi = std::min(n, (k + 1) * kScaleRunChunk);
    for (int64_t i = k * kScaleRunChunk; i < hi;) {
      const int64_t run = i / layout.inner;
      const int64_t end = std::min(hi, (run + 1) * layout.inner);
      body(i, end, run % layout.count);
      i = end;
    }
  }
}

// Scale c's zero point per integer_zero_point (scale_rules.h); null means 0.
template <typename T>
T rounded_zero_point(const T* zero_point, int64_t c, int64_t qmin, int64_t qmax) {
  return zero_point == nullptr ? T(0) : integer_zero_point(zero_point[c], qmin, qmax);
}

}  // namespace octet::quant::detail
