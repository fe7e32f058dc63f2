#include "qat/fake_quantizer.h"

#include <vector>

#include "framework/parallel/statistics_sync.h"
#include "framework/tensor/autograd.h"
#include "ops/cuda/fake_quant.h"
#include "ops/cuda/observer_state.h"
#include "ops/cuda/range.h"
#include "ops/device_copy.h"
#include "ops/on_device.h"
#include "ops/quant/dynamic_scales.h"
#include "ops/quant/scale_rules.h"
#include "qat/amax_history_observer.h"

namespace octet::qat {

using quant::ScaleSource;

namespace {

// Observer buffers live where the module lives; fake-quant needs its parameters on x's device.
QParams on_device(QParams p, const Device& device) {
  if (p.scale.defined() && p.scale.device() != device) p.scale = p.scale.to(device);
  if (p.zero_point.defined() && p.zero_point.device() != device) {
    p.zero_point = p.zero_point.to(device);
  }
  return p;
}

// dst[0..n) = src[0..n), either on any device (both f32, contiguous).
void copy_into(const Tensor& src, const Tensor& dst, int64_t n) {
  OCTET_CHECK(src.numel() == n && dst.numel() == n, "fake_quantizer", "expected ", n,
              " values, got ", src.numel(), " into ", dst.numel());
  View from = src.contiguous().view(), to = dst.view();
  from.shape = to.shape = {n};
  from.strides = to.strides = {1};
  copy_any(from, to);
}

}  // namespace

FakeQuantizer::FakeQuantizer(const TensorQuantConfig& config, int64_t channels)
    : config_(config), channels_(channels) {
  config_.spec.validate();
  observing_ = register_buffer("observer_enabled", Tensor::scalar(1.0));
  fake_quantizing_ = register_buffer("fake_quant_enabled", Tensor::scalar(1.0));
  switch (config_.spec.scale_source) {
    case ScaleSource::kObserver:
    case ScaleSource::kAmaxHistory: {
      ObserverOptions options = config_.observer;
      if (config_.spec.scale_source == ScaleSource::kAmaxHistory) {
        options.kind = ObserverKind::kAmaxHistory;
      }
      observer_ = make_observer(config_.spec, channels, options);
      register_module("observer", observer_);
      break;
    }
    case ScaleSource::kLearned:
      OCTET_CHECK(!config_.spec.is_fp8(), "fake_quantizer",
                  "learned (LSQ) scales are for integer formats, got ", config_.spec.str());
      scale_ = register_parameter("scale", Tensor::ones({channels}));
      if (!config_.spec.symmetric) {
        zero_point_ = register_parameter("zero_point", Tensor::zeros({channels}));
      }
      learned_initialized_ = register_buffer("learned_initialized", Tensor::scalar(0.0));
      break;
    case ScaleSource::kCurrent:
      break;
  }
}

// The switches live in host memory even when the module is on a GPU (host_switch, observer.h):
// a forward reads them without synchronising with the device.
bool FakeQuantizer::observer_enabled() const { return host_switch(observing_) != 0.0f; }
bool FakeQuantizer::fake_quant_enabled() const { return host_switch(fake_quantizing_) != 0.0f; }
void FakeQuantizer::enable_observer(bool on) { host_switch(observing_) = on ? 1.0f : 0.0f; }
void FakeQuantizer::enable_fake_quant(bool on) { host_switch(fake_quantizing_) = on ? 1.0f : 0.0f; }

QParams FakeQuantizer::current_qparams(const Tensor& x) const {
  const quant::QuantSpec& spec = config_.spec;
  const quant::ScaleLayout layout = quant::scale_layout(spec, x.shape());
  Tensor xs = x.detach().contiguous();
  OCTET_CHECK(xs.dtype() == DType::f32, "fake_quantizer", "current scaling reads f32, got ",
              xs.str());
  const Shape shape = layout.scale_shape.empty() ? Shape{1} : layout.scale_shape;
  QParams p{Tensor::empty(shape), Tensor()};
  if (!spec.is_fp8() && !spec.symmetric) p.zero_point = Tensor::empty(shape);
  // Scales over the whole batch (per tensor or per channel) are the global batch's under data
  // parallelism; per-token and per-group scales belong to one row, so they stay local.
  const bool batch_wide = spec.granularity == quant::Granularity::kPerTensor ||
                          spec.granularity == quant::Granularity::kPerChannel;
  quant::StatisticsMerge merge;
  if (batch_wide && parallel::statistics_sync_active()) merge = parallel::sync_statistics_max;
  if (on_cuda(xs.device())) return current_qparams_cuda(xs, layout, shape, merge);
  quant::current_scales(spec, xs.data<float>(), xs.numel(), layout, p.scale.data<float>(),
                        p.zero_point.defined() ? p.zero_point.data<float>() : nullptr,
                        "fake_quantizer", merge);
  return p;
}

// current_scales (ops/quant/dynamic_scales.cpp) for x on a GPU. The reductions run on the device,
// and without a cross-rank merge so do the rules (cuda::fp8_scales_from_amax and
// cuda::int_qparams_from_ranges, the device copies of fp8_scale and int_qparams), so a step reads
// nothing back; where int_qparams would throw on a non-finite range the device rule gives a NaN
// scale, and the NaN output shows it. With a merge (data parallelism, whose all-reduce works on
// host memory) the few per-scale statistics come to the host for it and the CPU's own rules, and
// the scales go back.
QParams FakeQuantizer::current_qparams_cuda(const Tensor& xs, const quant::ScaleLayout& layout,
                                            const Shape& shape,
                                            const quant::StatisticsMerge& merge) const {
  const quant::QuantSpec& spec = config_.spec;
  const Device dev = xs.device();
  const auto* x = static_cast<const float*>(xs.view().data);
  const int64_t count = layout.count;
  if (spec.is_fp8()) {
    Tensor amax = Tensor::empty({count}, DType::f32, dev);
    cuda::abs_max(x, xs.numel(), layout, amax.view().ptr<float>(), dev.index);
    QParams p{Tensor::empty(shape, DType::f32, dev), Tensor()};
    if (!merge) {
      cuda::fp8_scales_from_amax(amax.view().ptr<float>(), count, quant::fp8_format_of(spec.format),
                                 1.0f, 0, p.scale.view().ptr<float>(), dev.index);
      return p;
    }
    std::vector<float> a = amax.to_vector<float>();
    merge(a.data(), count);
    for (float& v : a) v = quant::fp8_scale(spec, v, 1.0f);
    return {Tensor::from_vector(a, shape).to(dev), Tensor()};
  }
  Tensor lo_dev = Tensor::empty({count}, DType::f32, dev);
  Tensor hi_dev = Tensor::empty({count}, DType::f32, dev);
  cuda::min_max(x, xs.numel(), layout, lo_dev.view().ptr<float>(), hi_dev.view().ptr<float>(),
                dev.index);
  if (!merge) {
    QParams p{Tensor::empty(shape, DType::f32, dev), Tensor()};
    if (!spec.symmetric) p.zero_point = Tensor::empty(shape, DType::f32, dev);
    cuda::int_qparams_from_ranges(lo_dev.view().ptr<float>(), hi_dev.view().ptr<float>(), count,
                                  spec, p.scale.view().ptr<float>(),
                                  spec.symmetric ? nullptr : p.zero_point.view().ptr<float>(),
                                  dev.index);
    return p;
  }
  std::vector<float> lo = lo_dev.to_vector<float>(), hi = hi_dev.to_vector<float>();
  quant::merge_ranges(lo.data(), hi.data(), count, merge);
  std::vector<float> scales(static_cast<size_t>(count)), zero_points(static_cast<size_t>(count));
  for (int64_t c = 0; c < count; ++c) {
    const quant::IntQParams q = quant::int_qparams(spec, lo[c], hi[c], "fake_quantizer");
    scales[c] = q.scale;
    zero_points[c] = static_cast<float>(q.zero_point);
  }
  QParams p{Tensor::from_vector(scales, shape).to(dev), Tensor()};
  if (!spec.symmetric) p.zero_point = Tensor::from_vector(zero_points, shape).to(dev);
  return p;
}

QParams FakeQuantizer::qparams(const Tensor& x) const {
  switch (config_.spec.scale_source) {
    case ScaleSource::kObserver:
    case ScaleSource::kAmaxHistory:
      return observer_->qparams();
    case ScaleSource::kCurrent:
      return current_qparams(x);
    case ScaleSource::kLearned:
      return {scale_.detach(), zero_point_.defined() ? zero_point_.detach() : Tensor()};
  }
  return {};
}

Tensor FakeQuantizer::forward(const Tensor& x) { return quantize(x, std::nullopt); }

Tensor FakeQuantizer::forward_for_gemm(const Tensor& x, DType compute) {
  return quantize(x, compute);
}

Tensor FakeQuantizer::quantize(const Tensor& x, std::optional<DType> output) {
  // Statistics come from training batches only (and calibration, which puts the quantizers in
  // training mode): evaluating on a test set must not move the scales.
  const bool observing = observer_ && observer_enabled() && is_training();
  // Delayed scaling (amax history) quantizes with the scale the history gave before this tensor,
  // as Transformer Engine does, and records this tensor's amax afterwards; the very first tensor
  // is observed first so that it does not run on the initial scale of 1.
  const bool delayed =
      config_.spec.scale_source == ScaleSource::kAmaxHistory && observer_->has_observed();
  if (observing && !delayed) observer_->observe(x.detach());
  if (!fake_quant_enabled()) {
    if (observing && delayed) observer_->observe(x.detach());
    return x;
  }
  if (delayed) {
    // The amax the history records comes from the quantizing pass where the observer takes it.
    auto* history = observing ? dynamic_cast<AmaxHistoryObserver*>(observer_.get()) : nullptr;
    const bool fused_amax = history != nullptr && history->takes_amax_of(x);
    FakeQuantResult r =
        fake_quant_fused(x, config_.spec, on_device(observer_->qparams(), x.device()), config_.ste,
                         {output, fused_amax});
    if (fused_amax) {
      history->observe_amax(r.amax);
    } else if (observing) {
      observer_->observe(x.detach());
    }
    return r.y;
  }
  const quant::QuantSpec& spec = config_.spec;
  if (spec.scale_source != ScaleSource::kLearned) {
    return fake_quant_fused(x, spec, on_device(qparams(x), x.device()), config_.ste, {output}).y;
  }
  if (host_switch(learned_initialized_) == 0.0f) {
    // LSQ starts from the min-max scale of the first tensor it sees (as PyTorch's learnable
    // fake-quant starts from its observer), then learns.
    NoGradGuard no_grad;
    const QParams init = current_qparams(x);
    copy_into(init.scale, scale_, channels_);
    if (zero_point_.defined()) copy_into(init.zero_point, zero_point_, channels_);
    host_switch(learned_initialized_) = 1.0f;
  }
  const double grad_factor = lsq_grad_factor(x.numel(), spec.qmax);
  // Parameters held on another device than x (the module was not moved) reach x through .to(),
  // which autograd carries back to them.
  const Tensor scale = scale_.device() == x.device() ? scale_ : scale_.to(x.device());
  const Tensor zero_point = !zero_point_.defined() || zero_point_.device() == x.device()
                                ? zero_point_
                                : zero_point_.to(x.device());
  return fake_quant_lsq(x, spec, scale, zero_point, grad_factor);
}

}  // namespace octet::qat
