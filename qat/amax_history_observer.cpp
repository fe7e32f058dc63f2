#include "qat/amax_history_observer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "framework/parallel/statistics_sync.h"
#include "ops/cuda/observer_state.h"
#include "ops/cuda/range.h"
#include "ops/on_device.h"
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
  const std::vector<float> rows = amax_history_.to_vector<float>();
  const float* history = rows.data();
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
  const Device dev = scale_.device();
  if (on_cuda(dev)) {
    QParams p{Tensor::empty({channels()}, DType::f32, dev), Tensor()};
    cuda::amax_history_scales(amax_history_.view().ptr<float>(), channels(), history_length_,
                              most_recent_, spec(), margin_, scale_.view().ptr<float>(),
                              p.scale.view().ptr<float>(), dev.index);
    return p;
  }
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
  require_device_of(x, amax_history_);
  const Device dev = amax_history_.device();
  Tensor amax = Tensor::empty({channels()}, DType::f32, dev);
  if (on_cuda(dev)) {
    cuda::abs_max(batch.device_values(), batch.numel(), batch.layout, amax.view().ptr<float>(),
                  dev.index);
  } else {
    quant::abs_max(batch.values(), batch.numel(), batch.layout, amax.data<float>());
  }
  record(amax);
}

bool AmaxHistoryObserver::takes_amax_of(const Tensor& x) const {
  return channels() == 1 && x.dtype() == DType::f32 && x.numel() > 0;
}

void AmaxHistoryObserver::observe_amax(const Tensor& batch_amax) {
  if (frozen()) return;
  OCTET_CHECK(batch_amax.dtype() == DType::f32 && batch_amax.numel() == channels(), "observer",
              "AmaxHistoryObserver over ", channels(), " scales got the amax ", batch_amax.str());
  require_device_of(batch_amax, amax_history_);
  record(batch_amax.contiguous());
}

// The batch amax (the global batch's, after the cross-rank MAX) enters the history: commit the
// scale of the history so far, then slide the window by one step. On a device the commit and the
// slide are one kernel (cuda::amax_history_observe); the all-reduce works on host memory, so
// under data parallelism the amax makes the round trip there.
void AmaxHistoryObserver::record(const Tensor& batch_amax) {
  const int64_t n = channels();
  const Device dev = amax_history_.device();
  std::vector<float> amax;
  if (!on_cuda(dev) || parallel::statistics_sync_active()) {
    amax = batch_amax.to_vector<float>();
    parallel::sync_statistics_max(amax.data(), n);  // the global batch's amax, on every rank
  }
  if (on_cuda(dev)) {
    const Tensor merged = amax.empty() ? batch_amax : Tensor::from_vector(amax, {n}).to(dev);
    cuda::amax_history_observe(merged.view().ptr<float>(), n, history_length_, most_recent_, spec(),
                               margin_, amax_history_.view().ptr<float>(),
                               scale_.view().ptr<float>(), dev.index);
  } else {
    const QParams committed = qparams();
    std::memcpy(scale_.data<float>(), committed.scale.data<float>(), n * sizeof(float));
    float* history = amax_history_.data<float>();
    std::memmove(history + n, history, (history_length_ - 1) * n * sizeof(float));
    std::copy(amax.begin(), amax.end(), history);
  }
  mark_observed();
}

}  // namespace octet::qat
