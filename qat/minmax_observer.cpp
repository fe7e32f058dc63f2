#include "qat/minmax_observer.h"

#include <limits>

#include "ops/quant/range.h"

namespace octet::qat {

MinMaxObserver::MinMaxObserver(const quant::QuantSpec& spec, int64_t channels, int margin)
    : Observer(spec, channels), margin_(margin) {
  const float none = -std::numeric_limits<float>::infinity();
  neg_min_val_ = add_buffer("neg_min_val", {channels}, none);
  max_val_ = add_buffer("max_val", {channels}, none);
}

void MinMaxObserver::observe(const Tensor& x) {
  if (frozen()) return;
  const Batch batch = checked_batch(x);
  if (batch.numel() == 0) return;
  const size_t n = static_cast<size_t>(channels());
  std::vector<float> lo, hi;
  finite_min_max(batch, x, lo, hi);
  sync_ranges(lo, hi);
  float* neg_min = neg_min_val_.data<float>();
  float* max = max_val_.data<float>();
  const bool first = !has_observed();
  for (size_t c = 0; c < n; ++c) {
    neg_min[c] = first ? -lo[c] : update(neg_min[c], -lo[c]);
    max[c] = first ? hi[c] : update(max[c], hi[c]);
  }
  mark_observed();
}

std::vector<float> MinMaxObserver::min_val() const {
  std::vector<float> v = neg_min_val_.to_vector<float>();
  for (float& f : v) f = -f;
  return v;
}

std::vector<float> MinMaxObserver::max_val() const { return max_val_.to_vector<float>(); }

QParams MinMaxObserver::qparams() const {
  if (!has_observed()) return initial_qparams();
  return qparams_from_ranges(min_val(), max_val(), margin_);
}

MovingAverageMinMaxObserver::MovingAverageMinMaxObserver(const quant::QuantSpec& spec,
                                                         int64_t channels,
                                                         double averaging_constant, int margin)
    : MinMaxObserver(spec, channels, margin),
      averaging_constant_(static_cast<float>(averaging_constant)) {}

}  // namespace octet::qat
