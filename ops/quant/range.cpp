#include "ops/quant/range.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "ops/error.h"

namespace octet::quant {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
// Below this many elements a second thread costs more than it saves.
constexpr int64_t kParallelThreshold = int64_t{1} << 16;
// Contiguous runs shorter than this (per-channel on a trailing axis: inner = 1) are reduced
// across rows instead, one accumulator per element of a row, so the vector lanes stay busy.
constexpr int64_t kMinRun = 16;
// ... as long as a row's accumulators stay small; past this, short runs are reduced one by one.
constexpr int64_t kMaxRowAccumulators = int64_t{1} << 14;

// One scale's statistics: min and max, or (kAbs) hi = max |x| with lo unused.
struct Range {
  float lo, hi;
};

template <bool kAbs>
constexpr Range empty_range() {
  return {kInf, kAbs ? 0.0f : -kInf};
}

// NaN compares false, so min/max alone would drop it; it has to win explicitly.
Range merge(Range a, Range b) {
  return {(std::isnan(a.lo) || std::isnan(b.lo)) ? kNaN : std::min(a.lo, b.lo),
          (std::isnan(a.hi) || std::isnan(b.hi)) ? kNaN : std::max(a.hi, b.hi)};
}

bool contains_nan(const float* x, int64_t len, int64_t stride) {
  for (int64_t i = 0; i < len; ++i)
    if (std::isnan(x[i * stride])) return true;
  return false;
}

// Eight floats, one AVX2 register (two SSE registers without AVX); GCC's vector extensions keep
// the accumulators in registers where arrays of lanes would go through the stack.
using Vec = float __attribute__((vector_size(32)));
constexpr int kVecLanes = 8;

inline Vec load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline Vec splat(float f) { return Vec{} + f; }

// The compare-selects map onto vector min/max instructions, which skip NaN. `probe` sums x - x,
// which turns NaN exactly when some x was NaN or infinite, so only such runs are rescanned.
// kVecs independent accumulators hide the min/max latency on long runs; short runs take one.
template <bool kAbs, int kVecs>
Range reduce_vectors(const float* x, int64_t len) {
  constexpr int64_t kStep = kVecs * kVecLanes;
  static_assert(kVecs >= 1);
  Vec lo[kVecs], hi[kVecs], probe[kVecs];
  for (int k = 0; k < kVecs; ++k) {
    lo[k] = splat(empty_range<kAbs>().lo);
    hi[k] = splat(empty_range<kAbs>().hi);
    probe[k] = splat(0.0f);
  }
  int64_t i = 0;
  for (; i + kStep <= len; i += kStep) {
    for (int k = 0; k < kVecs; ++k) {
      Vec v = load(x + i + k * kVecLanes);
      if constexpr (kAbs) v = v < 0 ? -v : v;
      if constexpr (!kAbs) lo[k] = v < lo[k] ? v : lo[k];
      hi[k] = v > hi[k] ? v : hi[k];
      probe[k] += v - v;
    }
  }
  Range r = empty_range<kAbs>();
  float probe_sum = 0.0f;
  for (; i < len; ++i) {
    const float v = kAbs ? std::fabs(x[i]) : x[i];
    if constexpr (!kAbs) r.lo = v < r.lo ? v : r.lo;
    r.hi = v > r.hi ? v : r.hi;
    probe_sum += v - v;
  }
  for (int k = 0; k < kVecs; ++k) {
    for (int j = 0; j < kVecLanes; ++j) {
      r.lo = std::min(r.lo, lo[k][j]);
      r.hi = std::max(r.hi, hi[k][j]);
      probe_sum += probe[k][j];
    }
  }
  if (std::isnan(probe_sum) && contains_nan(x, len, 1)) return {kNaN, kNaN};
  return r;
}

template <bool kAbs>
Range reduce_short(const float* x, int64_t len) {
  Range r = empty_range<kAbs>();
  bool nan = false;
  for (int64_t i = 0; i < len; ++i) {
    const float v = kAbs ? std::fabs(x[i]) : x[i];
    if constexpr (!kAbs) r.lo = v < r.lo ? v : r.lo;
    r.hi = v > r.hi ? v : r.hi;
    nan = nan || std::isnan(v);
  }
  return nan ? Range{kNaN, kNaN} : r;
}

template <bool kAbs>
Range reduce_run(const float* x, int64_t len) {
  if (len >= 256) return reduce_vectors<kAbs, 4>(x, len);
  if (len >= kVecLanes) return reduce_vectors<kAbs, 1>(x, len);
  return reduce_short<kAbs>(x, len);
}

int threads_for(int64_t n) { return n >= kParallelThreshold ? omp_get_max_threads() : 1; }

// Each thread walks its own slice of [0, n) run by run into private per-scale partials.
template <bool kAbs>
void reduce_runs(const float* x, int64_t n, const ScaleLayout& layout, Range* out) {
  const int64_t count = layout.count, inner = layout.inner;
  const int threads = threads_for(n);
  std::vector<Range> partial(static_cast<size_t>(threads * count), empty_range<kAbs>());
#pragma omp parallel num_threads(threads)
  {
    const int64_t team = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t begin = n / team * t + std::min(t, n % team);
    const int64_t end = begin + n / team + (t < n % team ? 1 : 0);
    Range* mine = partial.data() + t * count;
    // Divisions only once per thread: they would cost more than a short run itself.
    int64_t run_end = (begin / inner + 1) * inner, scale = begin / inner % count;
    for (int64_t i = begin; i < end; i = run_end, run_end += inner) {
      const int64_t stop = std::min(end, run_end);
      mine[scale] = merge(mine[scale], reduce_run<kAbs>(x + i, stop - i));
      if (++scale == count) scale = 0;
    }
  }
  for (int64_t c = 0; c < count; ++c) {
    Range r = empty_range<kAbs>();
    for (int t = 0; t < threads; ++t) r = merge(r, partial[t * count + c]);
    out[c] = r;
  }
}

// Short runs: a row is one period of inner * count elements; rows are reduced elementwise into
// per-thread accumulators (vectorised along the row), then folded per scale.
template <bool kAbs>
void reduce_rows(const float* x, int64_t n, const ScaleLayout& layout, Range* out) {
  const int64_t count = layout.count, inner = layout.inner, period = inner * count;
  const int64_t rows = n / period;
  const int threads = threads_for(n);
  const size_t size = static_cast<size_t>(threads * period);
  std::vector<float> lo(size, empty_range<kAbs>().lo), hi(size, empty_range<kAbs>().hi);
  std::vector<float> probe(size, 0.0f);
#pragma omp parallel num_threads(threads)
  {
    const int64_t team = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t first = rows / team * t + std::min(t, rows % team);
    const int64_t last = first + rows / team + (t < rows % team ? 1 : 0);
    float* l = lo.data() + t * period;
    float* h = hi.data() + t * period;
    float* p = probe.data() + t * period;
    for (int64_t r = first; r < last; ++r) {
      const float* row = x + r * period;
      for (int64_t j = 0; j < period; ++j) {
        const float v = kAbs ? std::fabs(row[j]) : row[j];
        if constexpr (!kAbs) l[j] = v < l[j] ? v : l[j];
        h[j] = v > h[j] ? v : h[j];
        p[j] += v - v;
      }
    }
  }
  // Fold the other threads' accumulators into the first's, along the row (vectorised).
  float* l0 = lo.data();
  float* h0 = hi.data();
  float* p0 = probe.data();
  for (int t = 1; t < threads; ++t) {
    const float* l = lo.data() + t * period;
    const float* h = hi.data() + t * period;
    const float* p = probe.data() + t * period;
    for (int64_t j = 0; j < period; ++j) {
      l0[j] = l[j] < l0[j] ? l[j] : l0[j];
      h0[j] = h[j] > h0[j] ? h[j] : h0[j];
      p0[j] += p[j];
    }
  }
  for (int64_t c = 0; c < count; ++c) {
    Range r = empty_range<kAbs>();
    float probe_sum = 0.0f;
    for (int64_t j = c * inner; j < (c + 1) * inner; ++j) {
      r.lo = l0[j] < r.lo ? l0[j] : r.lo;
      r.hi = h0[j] > r.hi ? h0[j] : r.hi;
      probe_sum += p0[j];
    }
    if (std::isnan(probe_sum)) {
      for (int64_t j = c * inner; j < (c + 1) * inner; ++j)
        if (contains_nan(x + j, rows, period)) r = {kNaN, kNaN};
    }
    out[c] = r;
  }
}

template <bool kAbs>
std::vector<Range> reduce(const char* op, const float* x, int64_t n, const ScaleLayout& layout) {
  OCTET_CHECK(n >= 0 && layout.inner >= 0 && layout.count >= 0, op, "negative sizes: n ", n,
              ", inner ", layout.inner, ", count ", layout.count);
  std::vector<Range> ranges(static_cast<size_t>(layout.count), empty_range<kAbs>());
  const int64_t period = layout.inner * layout.count;
  OCTET_CHECK(n == 0 || (period > 0 && n % period == 0), op, n,
              " elements do not fill whole periods of ", layout.count, " scales x ", layout.inner,
              " elements");
  if (n == 0) return ranges;
  if (layout.inner < kMinRun && period <= kMaxRowAccumulators) {
    reduce_rows<kAbs>(x, n, layout, ranges.data());
  } else {
    reduce_runs<kAbs>(x, n, layout, ranges.data());
  }
  return ranges;
}

}  // namespace

void min_max(const float* x, int64_t n, const ScaleLayout& layout, float* mins, float* maxs) {
  const std::vector<Range> ranges = reduce<false>("min_max", x, n, layout);
  for (size_t c = 0; c < ranges.size(); ++c) {
    mins[c] = ranges[c].lo;
    maxs[c] = ranges[c].hi;
  }
}

void abs_max(const float* x, int64_t n, const ScaleLayout& layout, float* amaxs) {
  const std::vector<Range> ranges = reduce<true>("abs_max", x, n, layout);
  for (size_t c = 0; c < ranges.size(); ++c) amaxs[c] = ranges[c].hi;
}

}  // namespace octet::quant
