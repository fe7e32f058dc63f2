#include "qat/observer_histogram.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/error.h"

namespace octet::qat::histogram {
namespace {

constexpr int64_t kParallelThreshold = int64_t{1} << 16;

// Bin index of a value; float arithmetic, since a value near an edge may go either way anyway.
struct Binner {
  Binner(double lo, double hi, int64_t bins)
      : lo(static_cast<float>(lo)),
        inv_width(hi > lo ? static_cast<float>(bins / (hi - lo)) : 0.0f),
        last(bins - 1) {}
  int64_t operator()(float v) const {
    const float position = (v - lo) * inv_width;
    if (!(position > 0.0f)) return 0;
    return std::min(static_cast<int64_t>(position), last);
  }
  float lo, inv_width;
  int64_t last;
};

void count_run(const float* x, int64_t len, bool absolute, const Binner& bin, int64_t* local) {
  if (absolute) {
    for (int64_t i = 0; i < len; ++i) ++local[bin(std::fabs(x[i]))];
  } else {
    for (int64_t i = 0; i < len; ++i) ++local[bin(x[i])];
  }
}

}  // namespace

void rebin(float* counts, int64_t bins, double old_lo, double old_hi, double new_lo,
           double new_hi) {
  OCTET_CHECK(new_lo <= old_lo && old_hi <= new_hi, "histogram", "rebin from [", old_lo, ", ",
              old_hi, "] to [", new_lo, ", ", new_hi, "] would drop mass");
  const double old_width = (old_hi - old_lo) / bins, new_width = (new_hi - new_lo) / bins;
  const Binner bin(new_lo, new_hi, bins);
  std::vector<double> moved(static_cast<size_t>(bins), 0.0);
  std::vector<double> overlap;
  for (int64_t k = 0; k < bins; ++k) {
    const double mass = counts[k];
    if (mass == 0.0) continue;
    if (!(old_width > 0.0)) {
      moved[bin(static_cast<float>(old_lo))] += mass;
      continue;
    }
    const double a = old_lo + k * old_width, b = a + old_width;
    const int64_t first = bin(static_cast<float>(a)), last = bin(static_cast<float>(b));
    // New bins are at least as wide as old ones, so this is one or two bins; normalising by the
    // summed overlap keeps the mass exact whatever the rounding of the edges.
    overlap.assign(static_cast<size_t>(last - first + 1), 0.0);
    double total = 0.0;
    for (int64_t j = first; j <= last; ++j) {
      const double lo = j == 0 ? -INFINITY : new_lo + j * new_width;
      const double hi = j == bins - 1 ? INFINITY : new_lo + (j + 1) * new_width;
      overlap[j - first] = std::max(0.0, std::min(b, hi) - std::max(a, lo));
      total += overlap[j - first];
    }
    if (!(total > 0.0)) {
      moved[first] += mass;
      continue;
    }
    for (int64_t j = first; j <= last; ++j) moved[j] += mass * overlap[j - first] / total;
  }
  for (int64_t k = 0; k < bins; ++k) counts[k] = static_cast<float>(moved[k]);
}

void accumulate(const float* x, int64_t n, const quant::ScaleLayout& layout, bool absolute,
                const float* lo, const float* hi, int64_t bins, float* counts) {
  if (n == 0) return;
  const int64_t count = layout.count, inner = layout.inner, period = inner * count;
  const int64_t rows = n / period;
  OCTET_CHECK(period > 0 && n % period == 0, "histogram", n, " elements do not fill ", count,
              " scales x ", inner, " elements");
  if (count == 1) {
    // One histogram: threads split the elements and merge private counts.
    const Binner bin(lo[0], hi[0], bins);
    std::vector<int64_t> total(static_cast<size_t>(bins), 0);
#pragma omp parallel if (n >= kParallelThreshold)
    {
      std::vector<int64_t> local(static_cast<size_t>(bins), 0);
      const int64_t team = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t begin = n / team * t + std::min(t, n % team);
      const int64_t end = begin + n / team + (t < n % team ? 1 : 0);
      count_run(x + begin, end - begin, absolute, bin, local.data());
#pragma omp critical(octet_histogram_merge)
      for (int64_t k = 0; k < bins; ++k) total[k] += local[k];
    }
    for (int64_t k = 0; k < bins; ++k) counts[k] += static_cast<float>(total[k]);
    return;
  }
  // One histogram per scale: threads own whole scales, so no merging.
#pragma omp parallel if (n >= kParallelThreshold)
  {
    std::vector<int64_t> local(static_cast<size_t>(bins));
#pragma omp for schedule(dynamic, 4)
    for (int64_t c = 0; c < count; ++c) {
      std::fill(local.begin(), local.end(), 0);
      const Binner bin(lo[c], hi[c], bins);
      for (int64_t r = 0; r < rows; ++r)
        count_run(x + r * period + c * inner, inner, absolute, bin, local.data());
      float* mine = counts + c * bins;
      for (int64_t k = 0; k < bins; ++k) mine[k] += static_cast<float>(local[k]);
    }
  }
}

double quantile(const float* counts, int64_t bins, double lo, double hi, double q) {
  double total = 0.0;
  for (int64_t k = 0; k < bins; ++k) total += counts[k];
  if (!(total > 0.0) || !(hi > lo)) return lo;
  const double target = std::clamp(q, 0.0, 1.0) * total, width = (hi - lo) / bins;
  double below = 0.0;
  for (int64_t k = 0; k < bins; ++k) {
    const double mass = counts[k];
    if (mass > 0.0 && below + mass >= target)
      return lo + width * (k + std::clamp((target - below) / mass, 0.0, 1.0));
    below += mass;
  }
  return hi;
}

}  // namespace octet::qat::histogram
