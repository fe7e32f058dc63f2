#include "qat/amax_history_observer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "framework/parallel/statistics_sync.h"
#include "ops/quant/range.h"
#include "ops/quant/scale_rules.h"

namespace octet::qat {

AmaxHistoryObserver::AmaxHistoryObserver(const quant::QuantSpec& spec, int64_t channels,
                                         int64_t history_length, bool most_recent, int margin)
    : Observer(spec, channels),
      history_length_(history_length),
      most_recent_(most_recent),
      margin_(margin) {
  OCTET_CHECK(spec.is_fp8(), "observer", "AmaxHistoryObserver is FP8 delayed scaling; ", spec.str(),
              " is an integer spec");
  OCTET_CHECK(history_length >= 1, "observer",
              "AmaxHistoryObserver needs history_length >= 1, got ", history_length);
  amax_history_ = add_buffer("amax_history", {history_length, channels}, 0.0f);
  scale_ = add_buffer("scale", {channels}, 1.0f);
}

std::vector<float> AmaxHistoryObserver::reduced_amax() const {
  const int64_t n = channels();
  const float* history = amax_history_.data<float>();
  std::vector<float> amax(history, history + n);
  if (most_recent_) return amax;
  for (int64_t row = 1; row < history_length_; ++row) {
    for (int64_t c = 0; c < n; ++c) {
      // NaN wins, so the rule downstream sees it and keeps the scale.
      if (std::isnan(amax[c])) continue;
      const float v = history[row * n + c];
      if (std::isnan(v) || v > amax[c]) amax[c] = v;
    }
  }
  return amax;
}

QParams AmaxHistoryObserver::qparams() const {
  const std::vector<float> amax = reduced_amax();
  QParams p;
  p.scale = Tensor::empty({channels()}, DType::f32);
  const float* previous = scale_.data<float>();
  for (int64_t c = 0; c < channels(); ++c)
    p.scale.data<float>()[c] = quant::fp8_scale(spec(), amax[c], previous[c], margin_);
  return p;
}

void AmaxHistoryObserver::observe(const Tensor& x) {
  if (frozen()) return;
  const Batch batch = checked_batch(x);
  if (batch.numel() == 0) return;
  const int64_t n = channels();
  std::vector<float> amax(static_cast<size_t>(n));
  quant::abs_max(batch.values(), batch.numel(), batch.layout, amax.data());
  parallel::sync_statistics_max(amax.data(), n);  // the global batch's amax, on every rank
  // Commit the scale of the history so far, then slide the window by one step.
  const QParams committed = qparams();
  std::memcpy(scale_.data<float>(), committed.scale.data<float>(), n * sizeof(float));
  float* history = amax_history_.data<float>();
  std::memmove(history + n, history, (history_length_ - 1) * n * sizeof(float));
  std::copy(amax.begin(), amax.end(), history);
  mark_observed();
}

}  // namespace octet::qat
