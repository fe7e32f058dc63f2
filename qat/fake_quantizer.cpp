#include "qat/fake_quantizer.h"

#include <vector>

#include "framework/parallel/statistics_sync.h"
#include "framework/tensor/autograd.h"
#include "ops/quant/dynamic_scales.h"

namespace octet::qat {

using quant::ScaleSource;

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

bool FakeQuantizer::observer_enabled() const { return observing_.item() != 0.0; }
bool FakeQuantizer::fake_quant_enabled() const { return fake_quantizing_.item() != 0.0; }
void FakeQuantizer::enable_observer(bool on) { *observing_.data<float>() = on ? 1.0f : 0.0f; }
void FakeQuantizer::enable_fake_quant(bool on) {
  *fake_quantizing_.data<float>() = on ? 1.0f : 0.0f;
}

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
  quant::current_scales(spec, xs.data<float>(), xs.numel(), layout, p.scale.data<float>(),
                        p.zero_point.defined() ? p.zero_point.data<float>() : nullptr,
                        "fake_quantizer", merge);
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

Tensor FakeQuantizer::forward(const Tensor& x) {
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
    Tensor y = fake_quant(x, config_.spec, observer_->qparams(), config_.ste);
    if (observing) observer_->observe(x.detach());
    return y;
  }
  const quant::QuantSpec& spec = config_.spec;
  if (spec.scale_source != ScaleSource::kLearned) {
    return fake_quant(x, spec, qparams(x), config_.ste);
  }
  if (learned_initialized_.item() == 0.0) {
    // LSQ starts from the min-max scale of the first tensor it sees (as PyTorch's learnable
    // fake-quant starts from its observer), then learns.
    NoGradGuard no_grad;
    const QParams init = current_qparams(x);
    std::copy_n(init.scale.data<float>(), channels_, scale_.data<float>());
    if (zero_point_.defined()) {
      std::copy_n(init.zero_point.data<float>(), channels_, zero_point_.data<float>());
    }
    *learned_initialized_.data<float>() = 1.0f;
  }
  const double grad_factor = lsq_grad_factor(x.numel(), spec.qmax);
  return fake_quant_lsq(x, spec, scale_, zero_point_, grad_factor);
}

}  // namespace octet::qat
