#include "qat/llm_int8.h"

#include <cmath>
#include <memory>

#include "framework/functional/arithmetic.h"
#include "framework/functional/linear.h"
#include "framework/tensor/autograd.h"
#include "ops/quant/outliers.h"
#include "ops/quant/quantize.h"
#include "qat/quant_layers.h"

namespace octet::qat {
namespace {

using quant::QuantSpec;
using quant::ScaleSource;

const QuantSpec& regular_input_spec() {
  static const QuantSpec spec =
      QuantSpec::int8_symmetric().per_token().with_source(ScaleSource::kCurrent);
  return spec;
}

const QuantSpec& weight_spec() {
  static const QuantSpec spec =
      QuantSpec::int8_symmetric().per_channel(0).with_source(ScaleSource::kCurrent);
  return spec;
}

// x[:, columns] of a 2-D f32 x, differentiable: the gradient scatters back into x's columns.
Tensor select_columns(const Tensor& x, const std::vector<int64_t>& columns) {
  const Tensor xs = x.detach().contiguous();
  const int64_t rows = xs.size(0), cols = xs.size(1), k = static_cast<int64_t>(columns.size());
  Tensor out = Tensor::empty({rows, k});
  quant::gather_columns(xs.data<float>(), rows, cols, columns.data(), k, out.data<float>());
  return record(out, "select_columns", {x},
                [columns, rows, cols, k](const Tensor& g, const NeedsGrad&) {
                  const Tensor gs = g.contiguous();
                  Tensor dx = Tensor::zeros({rows, cols});
                  quant::scatter_add_columns(gs.data<float>(), rows, k, columns.data(), cols,
                                             dx.data<float>());
                  return std::vector<Tensor>{dx};
                });
}

std::vector<int64_t> mask_columns(const Tensor& mask) {
  const float* m = mask.data<float>();
  std::vector<int64_t> out;
  for (int64_t c = 0; c < mask.numel(); ++c) {
    if (m[c] != 0.0f) out.push_back(c);
  }
  return out;
}

std::vector<float> column_amax(const Tensor& x) {
  const Tensor xs = x.detach().contiguous();
  std::vector<float> amax(static_cast<size_t>(xs.size(1)));
  quant::column_abs_max(xs.data<float>(), xs.size(0), xs.size(1), amax.data());
  return amax;
}

}  // namespace

// ---- OutlierColumnQuantizer ---------------------------------------------------------------------

OutlierColumnQuantizer::OutlierColumnQuantizer(int64_t in_features, double threshold)
    : FakeQuantizer({regular_input_spec(), {}, Ste::kClipped}, 1),
      in_(in_features),
      threshold_(threshold) {
  OCTET_CHECK(in_features > 0, "llm_int8", "needs at least one input feature, got ", in_features);
  OCTET_CHECK(std::isfinite(threshold) && threshold > 0, "llm_int8",
              "the outlier threshold must be positive and finite, got ", threshold);
  mask_ = register_buffer("outlier_mask", Tensor::zeros({in_features}));
  calibrated_ = register_buffer("calibrated", Tensor::scalar(0.0));
}

bool OutlierColumnQuantizer::observing() const { return observer_enabled() && is_training(); }

bool OutlierColumnQuantizer::calibrated() const { return calibrated_.item() != 0.0; }

void OutlierColumnQuantizer::observe_columns(const Tensor& x) {
  if (!observing() || x.numel() == 0) return;
  const std::vector<float> amax = column_amax(x);
  float* mask = mask_.data<float>();
  for (int64_t c : quant::columns_above(amax.data(), in_, static_cast<float>(threshold_))) {
    mask[c] = 1.0f;
  }
  *calibrated_.data<float>() = 1.0f;
}

std::vector<int64_t> OutlierColumnQuantizer::outlier_columns(const Tensor& x) const {
  if (calibrated()) return mask_columns(mask_);
  const std::vector<float> amax = column_amax(x);
  return quant::columns_above(amax.data(), in_, static_cast<float>(threshold_));
}

std::vector<int64_t> OutlierColumnQuantizer::calibrated_columns() const {
  return calibrated() ? mask_columns(mask_) : std::vector<int64_t>{};
}

// ---- LlmInt8Linear ------------------------------------------------------------------------------

LlmInt8Linear::LlmInt8Linear(const nn::Linear& source, double threshold, std::string name)
    : nn::Linear(source.weight(), source.bias()), name_(std::move(name)) {
  OCTET_CHECK(std::isfinite(threshold) && threshold > 0, "llm_int8", "layer '", name_,
              "': the outlier threshold must be positive and finite, got ", threshold);
  input_fq_ =
      register_module("input_fake_quant", std::make_shared<OutlierColumnQuantizer>(in_, threshold));
  weight_fq_ = register_module(
      "weight_fake_quant",
      std::make_shared<FakeQuantizer>(TensorQuantConfig{weight_spec(), {}, Ste::kClipped}, out_));
}

Tensor LlmInt8Linear::forward(const Tensor& x) {
  OCTET_CHECK(x.dtype() == DType::f32, "llm_int8", "layer '", name_, "' computes in f32, got ",
              x.str());
  OCTET_CHECK(x.dim() >= 1 && x.size(-1) == in_, "llm_int8", "layer '", name_, "' takes [..., ",
              in_, "] inputs, got ", x.str());
  Shape out_shape = x.shape();
  out_shape.back() = out_;
  const Tensor x2 = x.reshape({x.numel() / in_, in_});
  OutlierColumnQuantizer& in_fq = *input_fq_;
  in_fq.observe_columns(x2);
  // Calibration (fake-quant off) runs in FP32, so later layers see unquantized statistics.
  if (!in_fq.fake_quant_enabled()) return nn::Linear::forward(x);

  const std::vector<int64_t> outliers = in_fq.outlier_columns(x2);
  Tensor y;
  if (outliers.empty()) {
    y = linear(in_fq.forward(x2), weight_fq_->forward(weight_), bias_);
  } else if (static_cast<int64_t>(outliers.size()) == in_) {
    y = linear(x2, weight_, bias_);
  } else {
    const std::vector<int64_t> regular = quant::complement_columns(outliers, in_);
    const Tensor int8_part = linear(in_fq.forward(select_columns(x2, regular)),
                                    weight_fq_->forward(select_columns(weight_, regular)), bias_);
    y = add(int8_part, linear(select_columns(x2, outliers), select_columns(weight_, outliers)));
  }
  return y.reshape(out_shape);
}

// ---- prepare and export -------------------------------------------------------------------------

std::vector<std::string> prepare_llm_int8(nn::Module& root, double threshold,
                                          const std::vector<std::string>& skip) {
  return swap_layers(
      root, skip, "prepare_llm_int8",
      [&](const std::string& name, nn::Module& layer) -> std::shared_ptr<nn::Module> {
        if (layer.type_name() != "Linear") return nullptr;
        return std::make_shared<LlmInt8Linear>(static_cast<const nn::Linear&>(layer), threshold,
                                               name);
      });
}

LlmInt8Parts llm_int8_parts(const LlmInt8Linear& layer) {
  const OutlierColumnQuantizer& in_fq = layer.input_fake_quant();
  OCTET_CHECK(in_fq.calibrated(), "llm_int8_parts", "layer '", layer.name(),
              "' has no calibrated outlier columns: run qat::calibrate first");
  NoGradGuard no_grad;
  const int64_t in = layer.in_features(), out = layer.out_features();
  const std::vector<int64_t> outliers = in_fq.calibrated_columns();
  const std::vector<int64_t> regular = quant::complement_columns(outliers, in);
  const Tensor weight = layer.weight().detach().contiguous();

  LlmInt8Parts parts;
  parts.outlier_columns = Tensor::from_vector(outliers, {static_cast<int64_t>(outliers.size())});
  parts.outlier_weight = select_columns(weight, outliers);
  const Tensor regular_weight = select_columns(weight, regular);
  parts.regular_weight_codes = Tensor::empty(regular_weight.shape(), DType::i8);
  if (regular.empty()) {
    parts.weight_scale = Tensor::ones({out});
  } else {
    // The scales the layer's forward uses: its weight quantizer on the same regular columns.
    const FakeQuantizer& wfq = layer.weight_fake_quant();
    parts.weight_scale = wfq.qparams(regular_weight).scale.detach().contiguous().clone();
    const QuantSpec& spec = wfq.spec();
    quant::quantize_int(regular_weight.data<float>(), regular_weight.numel(),
                        quant::scale_layout(spec, regular_weight.shape()),
                        parts.weight_scale.data<float>(), nullptr, spec.qmin, spec.qmax,
                        parts.regular_weight_codes.data<int8_t>());
  }
  if (layer.bias().defined()) parts.bias = layer.bias().detach().contiguous().clone();
  return parts;
}

}  // namespace octet::qat
