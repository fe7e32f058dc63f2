#include "qat/minmax_observer.h"

#include <limits>

#include "framework/parallel/statistics_sync.h"
#include "ops/cuda/observer_state.h"
#include "ops/cuda/range.h"
#include "ops/on_device.h"
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
  require_device_of(x, neg_min_val_);
  if (on_cuda(x.device())) {
    observe_cuda(batch, x);
    return;
  }
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

// The CPU steps above on the device: the batch range by cuda::min_max, folded in by
// cuda::minmax_observe, which also makes the finiteness check (skipping the batch instead of
// throwing) and reads and sets the observed flag on the device, so nothing comes back.
void MinMaxObserver::observe_cuda(const Batch& batch, const Tensor& x) {
  const Device dev = x.device();
  const int64_t n = channels();
  Tensor range = Tensor::empty({2, n}, DType::f32, dev);  // row 0 the minima, row 1 the maxima
  float* lo = range.view().ptr<float>();
  cuda::min_max(batch.device_values(), batch.numel(), batch.layout, lo, lo + n, dev.index);
  if (parallel::statistics_sync_active()) {
    // The all-reduce works on host memory: under data parallelism the batch range makes the round
    // trip, and is checked on the host exactly as the CPU checks it (throwing, state unchanged).
    const std::vector<float> both = range.to_vector<float>();
    std::vector<float> mins(both.begin(), both.begin() + n), maxs(both.begin() + n, both.end());
    require_finite(x, mins, maxs);
    sync_ranges(mins, maxs);
    mins.insert(mins.end(), maxs.begin(), maxs.end());
    range = Tensor::from_vector(mins, {2, n}).to(dev);
    lo = range.view().ptr<float>();
  }
  if (!rejected_.defined() || rejected_.device() != dev)
    rejected_ = Tensor::zeros({}, DType::i32, dev);
  cuda::minmax_observe(lo, lo + n, n, averaging_constant(), neg_min_val_.view().ptr<float>(),
                       max_val_.view().ptr<float>(), device_observed(dev),
                       static_cast<int32_t*>(rejected_.view().data), dev.index);
}

int64_t MinMaxObserver::rejected_batches() const {
  if (!rejected_.defined() || rejected_.device() != neg_min_val_.device()) return 0;
  return static_cast<int64_t>(rejected_.item());
}

std::vector<float> MinMaxObserver::min_val() const {
  std::vector<float> v = neg_min_val_.to_vector<float>();
  for (float& f : v) f = -f;
  return v;
}

std::vector<float> MinMaxObserver::max_val() const { return max_val_.to_vector<float>(); }

QParams MinMaxObserver::qparams() const {
  const Device dev = neg_min_val_.device();
  if (on_cuda(dev)) {
    const int64_t n = channels();
    const bool affine = !spec().is_fp8() && !spec().symmetric;
    QParams p{Tensor::empty({n}, DType::f32, dev),
              affine ? Tensor::empty({n}, DType::f32, dev) : Tensor()};
    cuda::minmax_qparams(neg_min_val_.view().ptr<float>(), max_val_.view().ptr<float>(), n, spec(),
                         device_observed(dev), margin_, p.scale.view().ptr<float>(),
                         affine ? p.zero_point.view().ptr<float>() : nullptr, dev.index);
    return p;
  }
  if (!has_observed()) return initial_qparams();
  return qparams_from_ranges(min_val(), max_val(), margin_);
}

MovingAverageMinMaxObserver::MovingAverageMinMaxObserver(const quant::QuantSpec& spec,
                                                         int64_t channels,
                                                         double averaging_constant, int margin)
    : MinMaxObserver(spec, channels, margin),
      averaging_constant_(static_cast<float>(averaging_constant)) {}

}  // namespace octet::qat
