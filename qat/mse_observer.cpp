#include "qat/mse_observer.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/quant/fp8.h"
#include "ops/quant/range.h"
#include "ops/quant/scale_rules.h"
#include "qat/observer_histogram.h"

namespace octet::qat {
namespace {

double cube(double v) { return v * v * v; }

// E(x) = integral from g_0 to x of (fq(u) - u)^2 du, where fq rounds to the nearest point of the
// sorted grid g and clamps to its ends (E is negative below g_0). Inside a cell of width d, with
// u the distance from its left point, the error integral is u^3/3 up to the midpoint and
// d^3/12 - (d - u)^3/3 beyond it; prefix_ sums whole cells.
class GridError {
 public:
  explicit GridError(const std::vector<double>& grid) : g_(grid), prefix_(grid.size(), 0.0) {
    uniform_ = true;
    for (size_t i = 1; i < g_.size(); ++i) {
      prefix_[i] = prefix_[i - 1] + cube(g_[i] - g_[i - 1]) / 12.0;
      uniform_ = uniform_ && g_[i] - g_[i - 1] == 1.0;
    }
  }

  double operator()(double x) const {
    const double first = g_.front(), last = g_.back();
    if (x <= first) return -cube(first - x) / 3.0;
    if (x >= last) return prefix_.back() + cube(x - last) / 3.0;
    // Integer grids have unit steps, so the cell is a truncation; FP8 grids need a search.
    const size_t i =
        uniform_ ? std::min(static_cast<size_t>(x - first), g_.size() - 2)
                 : static_cast<size_t>(std::upper_bound(g_.begin(), g_.end(), x) - g_.begin() - 1);
    const double d = g_[i + 1] - g_[i], u = x - g_[i];
    return prefix_[i] + (u <= 0.5 * d ? cube(u) / 3.0 : cube(d) / 12.0 - cube(d - u) / 3.0);
  }

 private:
  std::vector<double> g_, prefix_;
  bool uniform_;
};

// The quantizer's grid at scale 1: the integer codes (x' = (q - zp) * s maps them onto the data
// axis) or the FP8 format's finite values (x' = value / s).
std::vector<double> unit_grid(const quant::QuantSpec& spec) {
  std::vector<double> grid;
  if (!spec.is_fp8()) {
    for (int64_t q = spec.qmin; q <= spec.qmax; ++q) grid.push_back(static_cast<double>(q));
    return grid;
  }
  const float* table = quant::fp8_decode_table(quant::fp8_format_of(spec.format));
  for (int code = 0; code < 256; ++code)
    if (std::isfinite(table[code])) grid.push_back(table[code]);
  std::sort(grid.begin(), grid.end());
  grid.erase(std::unique(grid.begin(), grid.end()), grid.end());
  return grid;
}

struct Search {
  const quant::QuantSpec& spec;
  int margin;
  const GridError& unit;
  int64_t bins, candidates;

  // Expected squared error of quantizing the histogram with the spec's qparams for [clip_lo,
  // clip_hi]. On the data axis the error integral is s^3 * E(x / s + zp) for integers and
  // E(x * s) / s^3 for FP8, so one unit grid serves every candidate.
  double error(const float* counts, double lo, double hi, float clip_lo, float clip_hi) const {
    double to_unit, offset = 0.0, factor;
    if (spec.is_fp8()) {
      const double s = quant::fp8_scale(spec, std::max(-clip_lo, clip_hi), 1.0f, margin);
      to_unit = s;
      factor = 1.0 / cube(s);
    } else {
      const quant::IntQParams q = quant::int_qparams(spec, clip_lo, clip_hi, "MseObserver");
      to_unit = 1.0 / q.scale;
      offset = q.zero_point;
      factor = cube(q.scale);
    }
    const double width = (hi - lo) / bins;
    double previous = unit(lo * to_unit + offset), sum = 0.0;
    for (int64_t k = 0; k < bins; ++k) {
      const double current = unit((lo + (k + 1) * width) * to_unit + offset);
      if (counts[k] > 0.0f) sum += counts[k] * (current - previous);
      previous = current;
    }
    return sum * factor / width;
  }

  std::pair<float, float> best_clip(const float* counts, float lo, float hi) const {
    // A constant channel (or a state loaded with non-finite values) has nothing to search;
    // the min-max rule handles it, and throws for the latter outside any thread.
    if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return {lo, hi};
    const bool symmetric = spec.is_fp8() || spec.symmetric;
    const double amax = std::max(-static_cast<double>(lo), static_cast<double>(hi));
    std::pair<float, float> best{lo, hi};
    double best_error = std::numeric_limits<double>::infinity();
    for (int64_t k = candidates; k >= 1; --k) {
      const double f = static_cast<double>(k) / candidates;
      const float clip_lo = static_cast<float>(symmetric ? -amax * f : lo * f);
      const float clip_hi = static_cast<float>(symmetric ? amax * f : hi * f);
      const double e = error(counts, lo, hi, clip_lo, clip_hi);
      if (e < best_error) {
        best_error = e;
        best = {clip_lo, clip_hi};
      }
    }
    return best;
  }
};

}  // namespace

MseObserver::MseObserver(const quant::QuantSpec& spec, int64_t channels, int64_t bins,
                         int64_t candidates, int margin)
    : Observer(spec, channels),
      bins_(bins),
      candidates_(candidates),
      margin_(margin),
      unit_grid_(unit_grid(spec)) {
  OCTET_CHECK(bins >= 2 && candidates >= 1, "observer",
              "MseObserver needs bins >= 2 and candidates >= 1, got ", bins, " and ", candidates);
  histogram_ = add_buffer("histogram", {channels, bins}, 0.0f);
  neg_min_val_ = add_buffer("neg_min_val", {channels}, 0.0f);
  max_val_ = add_buffer("max_val", {channels}, 0.0f);
}

std::vector<std::pair<float, float>> MseObserver::ranges() const {
  require_host(Tensor(), histogram_);
  std::vector<std::pair<float, float>> out(static_cast<size_t>(channels()));
  const float* neg_min = neg_min_val_.data<float>();
  const float* max = max_val_.data<float>();
  for (int64_t c = 0; c < channels(); ++c) out[c] = {-neg_min[c], max[c]};
  return out;
}

void MseObserver::observe(const Tensor& x) {
  if (frozen()) return;
  require_host(x, histogram_);
  const Batch batch = checked_batch(x);
  if (batch.numel() == 0) return;
  const size_t n = static_cast<size_t>(channels());
  std::vector<float> lo, hi;
  finite_min_max(batch, x, lo, hi);
  float* counts = histogram_.data<float>();
  std::vector<std::pair<float, float>> old;
  if (has_observed()) {
    old = ranges();
    for (size_t c = 0; c < n; ++c) {
      lo[c] = std::min(lo[c], old[c].first);
      hi[c] = std::max(hi[c], old[c].second);
    }
  }
  // Across ranks: one range per scale for all (MAX), then every rank's counts (SUM).
  sync_ranges(lo, hi);
  for (size_t c = 0; c < old.size(); ++c) {
    if (lo[c] != old[c].first || hi[c] != old[c].second)
      histogram::rebin(counts + c * bins_, bins_, old[c].first, old[c].second, lo[c], hi[c]);
  }
  accumulate_synced(batch, false, lo, hi, bins_, counts);
  for (size_t c = 0; c < n; ++c) {
    neg_min_val_.data<float>()[c] = -lo[c];
    max_val_.data<float>()[c] = hi[c];
  }
  mark_observed();
}

std::vector<std::pair<float, float>> MseObserver::clip_ranges() const {
  const int64_t n = channels();
  std::vector<std::pair<float, float>> clips(static_cast<size_t>(n), {0.0f, 0.0f});
  if (!has_observed()) return clips;
  const GridError unit(unit_grid_);
  const Search search{spec(), margin_, unit, bins_, candidates_};
  const std::vector<std::pair<float, float>> observed = ranges();
  const float* counts = histogram_.data<float>();
#pragma omp parallel for schedule(dynamic) if (n > 1 && n * bins_ * candidates_ > (1 << 20))
  for (int64_t c = 0; c < n; ++c)
    clips[c] = search.best_clip(counts + c * bins_, observed[c].first, observed[c].second);
  return clips;
}

QParams MseObserver::qparams() const {
  if (!has_observed()) return initial_qparams();
  std::vector<float> lo, hi;
  for (const auto& [l, h] : clip_ranges()) {
    lo.push_back(l);
    hi.push_back(h);
  }
  return qparams_from_ranges(lo, hi, margin_);
}

}  // namespace octet::qat
