#include "qat/histogram_observer.h"

#include <algorithm>

#include "ops/quant/range.h"
#include "qat/observer_histogram.h"

namespace octet::qat {

HistogramObserver::HistogramObserver(const quant::QuantSpec& spec, int64_t channels, int64_t bins,
                                     double percentile, int margin)
    : Observer(spec, channels), bins_(bins), percentile_(percentile), margin_(margin) {
  OCTET_CHECK(spec.granularity == quant::Granularity::kPerTensor, "observer",
              "HistogramObserver calibrates per-tensor specs only, got ", spec.str(),
              "; use the min-max or MSE observer for per-channel or per-group scales");
  OCTET_CHECK(bins >= 2, "observer", "HistogramObserver needs at least 2 bins, got ", bins);
  OCTET_CHECK(percentile > 0.0 && percentile <= 100.0, "observer",
              "HistogramObserver percentile must be in (0, 100], got ", percentile);
  histogram_ = add_buffer("histogram", {bins}, 0.0f);
  neg_min_val_ = add_buffer("neg_min_val", {1}, 0.0f);
  max_val_ = add_buffer("max_val", {1}, 0.0f);
}

std::pair<float, float> HistogramObserver::range() const {
  require_host(Tensor(), histogram_);
  return {-neg_min_val_.data<float>()[0], max_val_.data<float>()[0]};
}

double HistogramObserver::bin_width() const {
  const auto [lo, hi] = range();
  return (static_cast<double>(hi) - lo) / bins_;
}

void HistogramObserver::observe(const Tensor& x) {
  if (frozen()) return;
  require_host(x, histogram_);
  const Batch batch = checked_batch(x);
  if (batch.numel() == 0) return;
  std::vector<float> lo(1, 0.0f), hi(1);
  if (absolute()) {
    quant::abs_max(batch.values(), batch.numel(), batch.layout, hi.data());
  } else {
    quant::min_max(batch.values(), batch.numel(), batch.layout, lo.data(), hi.data());
  }
  require_finite(x, lo, hi);
  float* counts = histogram_.data<float>();
  if (has_observed()) {
    const auto [old_lo, old_hi] = range();
    lo[0] = std::min(lo[0], old_lo);
    hi[0] = std::max(hi[0], old_hi);
  }
  // Across ranks: one range for all (MAX), then the counts of every rank's batch (SUM).
  sync_ranges(lo, hi);
  if (has_observed()) {
    const auto [old_lo, old_hi] = range();
    if (lo[0] != old_lo || hi[0] != old_hi)
      histogram::rebin(counts, bins_, old_lo, old_hi, lo[0], hi[0]);
  }
  accumulate_synced(batch, absolute(), lo, hi, bins_, counts);
  neg_min_val_.data<float>()[0] = -lo[0];
  max_val_.data<float>()[0] = hi[0];
  mark_observed();
}

std::pair<float, float> HistogramObserver::clip_range() const {
  if (!has_observed()) return {0.0f, 0.0f};
  const auto [lo, hi] = range();
  const float* counts = histogram_.data<float>();
  const double p = percentile_ / 100.0;
  if (absolute()) {
    const float t = static_cast<float>(histogram::quantile(counts, bins_, lo, hi, p));
    return {-t, t};
  }
  return {static_cast<float>(histogram::quantile(counts, bins_, lo, hi, 1.0 - p)),
          static_cast<float>(histogram::quantile(counts, bins_, lo, hi, p))};
}

QParams HistogramObserver::qparams() const {
  if (!has_observed()) return initial_qparams();
  const auto [lo, hi] = clip_range();
  return qparams_from_ranges({lo}, {hi}, margin_);
}

}  // namespace octet::qat
