#include "qat/observer.h"

#include <algorithm>
#include <cmath>

#include "framework/parallel/statistics_sync.h"
#include "ops/quant/dynamic_scales.h"
#include "ops/quant/range.h"
#include "ops/quant/scale_rules.h"
#include "qat/amax_history_observer.h"
#include "qat/histogram_observer.h"
#include "qat/minmax_observer.h"
#include "qat/mse_observer.h"
#include "qat/observer_histogram.h"

namespace octet::qat {

const char* observer_kind_name(ObserverKind kind) {
  switch (kind) {
    case ObserverKind::kMinMax:
      return "min-max";
    case ObserverKind::kMovingAverageMinMax:
      return "moving-average min-max";
    case ObserverKind::kHistogram:
      return "histogram";
    case ObserverKind::kMse:
      return "mse";
    case ObserverKind::kAmaxHistory:
      return "amax-history";
  }
  return "unknown";
}

Observer::Observer(const quant::QuantSpec& spec, int64_t channels)
    : spec_(spec), channels_(channels) {
  spec.validate();
  OCTET_CHECK(spec.granularity != quant::Granularity::kPerToken, "observer", spec.str(),
              ": a per-token spec has nothing to observe; its scales come from each tensor's "
              "rows at run time (dynamic quantization)");
  OCTET_CHECK(channels >= 1, "observer", spec.str(), ": needs at least one scale, got ", channels);
  OCTET_CHECK(spec.granularity != quant::Granularity::kPerTensor || channels == 1, "observer",
              spec.str(), " has one scale, not ", channels);
  observed_ = add_buffer("observed", {}, 0.0f);
}

float& host_switch(const Tensor& buffer) {
  OCTET_CHECK(buffer.defined() && buffer.numel() == 1 && buffer.dtype() == DType::f32, "observer",
              "a switch is an f32 scalar buffer, got ",
              buffer.defined() ? buffer.str() : std::string("an undefined tensor"));
  if (buffer.device().type != DeviceType::cpu) nn::move_in_place({buffer}, Device{});
  return *buffer.data<float>();
}

bool Observer::has_observed() const {
  if (device_owns_observed() && observed_.device().type != DeviceType::cpu)
    return observed_.item() != 0.0;
  return host_switch(observed_) != 0.0f;
}

void Observer::mark_observed() {
  OCTET_CHECK(!device_owns_observed() || observed_.device().type == DeviceType::cpu, "observer",
              describe(), ": its device kernels set the observed flag");
  host_switch(observed_) = 1.0f;
}

float* Observer::device_observed(const Device& device) const {
  OCTET_CHECK(device_owns_observed() && observed_.device() == device, "observer", describe(),
              ": the observed flag is on ", observed_.device().str(), ", not on ", device.str());
  return observed_.view().ptr<float>();
}

Tensor Observer::add_buffer(const std::string& name, const Shape& shape, float value) {
  return register_buffer(name, Tensor::full(shape, value, DType::f32));
}

std::string Observer::describe() const {
  return detail::concat(type_name(), "(", spec_.str(), ", ", channels_,
                        channels_ == 1 ? " scale)" : " scales)");
}

Observer::Batch Observer::checked_batch(const Tensor& x) const {
  OCTET_CHECK(x.defined(), "observer", describe(), ": x is undefined");
  OCTET_CHECK(x.dtype() == DType::f32, "observer", describe(), " observes f32 tensors, got ",
              x.str());
  quant::ScaleLayout layout;
  try {
    layout = quant::scale_layout(spec_, x.shape());
  } catch (const Error& e) {
    throw Error("observer", describe() + " cannot observe x of shape " + shape_str(x.shape()) +
                                ": " + e.what());
  }
  OCTET_CHECK(layout.count == channels_ || x.numel() == 0, "observer", describe(),
              " cannot observe x of shape ", shape_str(x.shape()), ": it has ", layout.count,
              " scales (scale shape ", shape_str(layout.scale_shape),
              ") where the observer holds scale shape ", shape_str({channels_}));
  return {x.detach().contiguous(), layout};
}

void Observer::require_device_of(const Tensor& x, const Tensor& state) const {
  OCTET_CHECK(x.device() == state.device(), "observer", describe(), " holds its statistics on ",
              state.device().str(), " but x ", x.str(), " is on ", x.device().str(),
              "; move the module (Module::to) to the device of its inputs");
}

void Observer::require_host(const Tensor& x, const Tensor& state) const {
  const bool host = state.device().type == DeviceType::cpu &&
                    (!x.defined() || x.device().type == DeviceType::cpu);
  OCTET_CHECK(host, "observer", describe(), " calibrates on the CPU only (its statistics are on ",
              state.device().str(), x.defined() ? ", x on " + x.device().str() : std::string(),
              "): calibrate with the model on the CPU, then move it; the min-max and amax-history "
              "observers also run on a GPU");
}

void Observer::require_finite(const Tensor& x, const std::vector<float>& lo,
                              const std::vector<float>& hi) const {
  for (size_t c = 0; c < lo.size(); ++c) {
    OCTET_CHECK(std::isfinite(lo[c]) && std::isfinite(hi[c]), "observer", describe(), ": x ",
                x.str(), " holds NaN or infinite values (scale ", c, ": min ", lo[c], ", max ",
                hi[c], "); statistics left unchanged");
  }
}

void Observer::finite_min_max(const Batch& batch, const Tensor& x, std::vector<float>& lo,
                              std::vector<float>& hi) const {
  lo.assign(static_cast<size_t>(channels_), 0.0f);
  hi.assign(static_cast<size_t>(channels_), 0.0f);
  quant::min_max(batch.values(), batch.numel(), batch.layout, lo.data(), hi.data());
  require_finite(x, lo, hi);
}

void Observer::sync_ranges(std::vector<float>& lo, std::vector<float>& hi) {
  if (!parallel::statistics_sync_active()) return;
  quant::merge_ranges(lo.data(), hi.data(), static_cast<int64_t>(lo.size()),
                      parallel::sync_statistics_max);
}

void Observer::accumulate_synced(const Batch& batch, bool absolute, const std::vector<float>& lo,
                                 const std::vector<float>& hi, int64_t bins, float* counts) {
  if (!parallel::statistics_sync_active()) {
    histogram::accumulate(batch.values(), batch.numel(), batch.layout, absolute, lo.data(),
                          hi.data(), bins, counts);
    return;
  }
  std::vector<float> local(lo.size() * static_cast<size_t>(bins), 0.0f);
  histogram::accumulate(batch.values(), batch.numel(), batch.layout, absolute, lo.data(), hi.data(),
                        bins, local.data());
  parallel::sync_statistics_sum(local.data(), static_cast<int64_t>(local.size()));
  for (size_t i = 0; i < local.size(); ++i) counts[i] += local[i];
}

QParams Observer::qparams_from_ranges(const std::vector<float>& lo, const std::vector<float>& hi,
                                      int margin) const {
  QParams p;
  p.scale = Tensor::empty({channels_}, DType::f32);
  float* scale = p.scale.data<float>();
  const bool affine = !spec_.is_fp8() && !spec_.symmetric;
  float* zero_point = nullptr;
  if (affine) {
    p.zero_point = Tensor::empty({channels_}, DType::f32);
    zero_point = p.zero_point.data<float>();
  }
  const std::string where = describe();
  for (int64_t c = 0; c < channels_; ++c) {
    if (spec_.is_fp8()) {
      const float amax = std::max(-lo[c], hi[c]);
      scale[c] = quant::fp8_scale(spec_, amax, 1.0f, margin);
      continue;
    }
    const quant::IntQParams q = quant::int_qparams(spec_, lo[c], hi[c], where.c_str());
    scale[c] = q.scale;
    if (affine) zero_point[c] = static_cast<float>(q.zero_point);
  }
  return p;
}

QParams Observer::initial_qparams() const {
  const std::vector<float> zeros(static_cast<size_t>(channels_), 0.0f);
  QParams p = qparams_from_ranges(zeros, zeros, 0);
  // The rule for [0, 0] floors the scale at kMinScale; before any data the scale is 1.
  std::fill_n(p.scale.data<float>(), channels_, 1.0f);
  return p;
}

namespace {

void check_options(const quant::QuantSpec& spec, const ObserverOptions& o) {
  const char* kind = observer_kind_name(o.kind);
  OCTET_CHECK(o.averaging_constant > 0.0 && o.averaging_constant <= 1.0, "observer", kind,
              ": averaging_constant must be in (0, 1], got ", o.averaging_constant);
  OCTET_CHECK(o.bins >= 2, "observer", kind, ": bins must be >= 2, got ", o.bins);
  OCTET_CHECK(o.percentile > 0.0 && o.percentile <= 100.0, "observer", kind,
              ": percentile must be in (0, 100], got ", o.percentile);
  OCTET_CHECK(o.history_length >= 1, "observer", kind, ": history_length must be >= 1, got ",
              o.history_length);
  OCTET_CHECK(o.mse_bins >= 2 && o.mse_candidates >= 1, "observer", kind,
              ": mse_bins must be >= 2 and mse_candidates >= 1, got ", o.mse_bins, " and ",
              o.mse_candidates);
  OCTET_CHECK(o.margin >= -64 && o.margin <= 64, "observer", kind, ": margin ", o.margin,
              " is out of any useful range");
  OCTET_CHECK(o.kind != ObserverKind::kAmaxHistory || spec.is_fp8(), "observer",
              "an amax history is FP8 delayed scaling; ", spec.str(), " is an integer spec");
}

}  // namespace

std::shared_ptr<Observer> make_observer(const quant::QuantSpec& spec, int64_t channels,
                                        const ObserverOptions& options) {
  check_options(spec, options);
  switch (options.kind) {
    case ObserverKind::kMinMax:
      return std::make_shared<MinMaxObserver>(spec, channels, options.margin);
    case ObserverKind::kMovingAverageMinMax:
      return std::make_shared<MovingAverageMinMaxObserver>(
          spec, channels, options.averaging_constant, options.margin);
    case ObserverKind::kHistogram:
      return std::make_shared<HistogramObserver>(spec, channels, options.bins, options.percentile,
                                                 options.margin);
    case ObserverKind::kMse:
      return std::make_shared<MseObserver>(spec, channels, options.mse_bins, options.mse_candidates,
                                           options.margin);
    case ObserverKind::kAmaxHistory:
      return std::make_shared<AmaxHistoryObserver>(spec, channels, options.history_length,
                                                   options.history_most_recent, options.margin);
  }
  throw Error("observer", "unknown observer kind");
}

}  // namespace octet::qat
