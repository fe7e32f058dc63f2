#include "qat/convert.h"

#include <cmath>

#include "framework/tensor/autograd.h"
#include "ops/quant/quantize.h"
#include "ops/quant/scale_rules.h"
#include "qat/quant_layers.h"

namespace octet::qat {
namespace {

Tensor rounded_zero_point(const QParams& p, const quant::QuantSpec& spec) {
  if (!p.zero_point.defined()) return Tensor();
  Tensor z = p.zero_point.detach().contiguous().clone();
  float* v = z.data<float>();
  for (int64_t i = 0; i < z.numel(); ++i)
    v[i] = quant::integer_zero_point(v[i], spec.qmin, spec.qmax);
  return z;
}

const float* optional_data(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

}  // namespace

QuantizedTensor quantize_tensor(const Tensor& x, const quant::QuantSpec& spec, const QParams& p) {
  check_qparams("quantize_tensor", spec, p, x.shape());
  OCTET_CHECK(x.dtype() == DType::f32, "quantize_tensor", "quantizes f32, got ", x.str());
  const quant::ScaleLayout layout = quant::scale_layout(spec, x.shape());
  Tensor xs = x.detach().contiguous();
  QuantizedTensor q{
      spec, Tensor(), {p.scale.detach().contiguous().clone(), rounded_zero_point(p, spec)}};
  const float* scale = q.params.scale.data<float>();
  if (spec.is_fp8()) {
    q.codes = Tensor::empty(x.shape(), DType::u8);
    quant::quantize_fp8(xs.data<float>(), xs.numel(), layout, scale,
                        quant::fp8_format_of(spec.format), spec.saturate, q.codes.data<uint8_t>());
  } else if (spec.qmin < 0) {
    q.codes = Tensor::empty(x.shape(), DType::i8);
    quant::quantize_int(xs.data<float>(), xs.numel(), layout, scale,
                        optional_data(q.params.zero_point), spec.qmin, spec.qmax,
                        q.codes.data<int8_t>());
  } else {
    q.codes = Tensor::empty(x.shape(), DType::u8);
    quant::quantize_int(xs.data<float>(), xs.numel(), layout, scale,
                        optional_data(q.params.zero_point), spec.qmin, spec.qmax,
                        q.codes.data<uint8_t>());
  }
  return q;
}

Tensor dequantize_tensor(const QuantizedTensor& q) {
  const quant::ScaleLayout layout = quant::scale_layout(q.spec, q.codes.shape());
  Tensor out = Tensor::empty(q.codes.shape());
  const float* scale = q.params.scale.data<float>();
  const float* zp = optional_data(q.params.zero_point);
  if (q.spec.is_fp8()) {
    quant::dequantize_fp8(q.codes.data<uint8_t>(), q.codes.numel(), layout, scale,
                          quant::fp8_format_of(q.spec.format), out.data<float>());
  } else if (q.codes.dtype() == DType::i8) {
    quant::dequantize_int(q.codes.data<int8_t>(), q.codes.numel(), layout, scale, zp, q.spec.qmin,
                          q.spec.qmax, out.data<float>());
  } else {
    quant::dequantize_int(q.codes.data<uint8_t>(), q.codes.numel(), layout, scale, zp, q.spec.qmin,
                          q.spec.qmax, out.data<float>());
  }
  return out;
}

std::vector<ConvertedLayer> convert(nn::Module& root) {
  NoGradGuard no_grad;
  std::vector<ConvertedLayer> layers;
  for (auto& [name, module] : root.named_modules()) {
    if (auto* table = dynamic_cast<QuantEmbedding*>(module)) {
      ConvertedLayer layer;
      layer.name = name;
      layer.kind = "embedding";
      layer.quantized_input = false;
      const FakeQuantizer& wfq = table->weight_fake_quant();
      layer.weight = quantize_tensor(table->weight(), wfq.spec(), wfq.qparams(table->weight()));
      layers.push_back(std::move(layer));
      continue;
    }
    auto* twin = dynamic_cast<QuantTwin*>(module);
    if (twin == nullptr) continue;
    ConvertedLayer layer;
    layer.name = name;
    Tensor weight, bias;
    if (auto* lin = dynamic_cast<QuantLinear*>(module)) {
      layer.kind = "linear";
      weight = lin->weight();
      bias = lin->bias();
    } else {
      auto* conv = dynamic_cast<QuantConv2d*>(module);
      OCTET_CHECK(conv != nullptr, "convert", "layer '", name, "' is a ", module->type_name(),
                  ", which convert does not know");
      layer.kind = "conv2d";
      weight = conv->weight();
      bias = conv->bias();
      layer.stride = conv->stride();
      layer.padding = conv->padding();
    }
    const FakeQuantizer& wfq = twin->weight_fake_quant();
    layer.weight = quantize_tensor(weight, wfq.spec(), wfq.qparams(weight));
    layer.quantized_input = twin->quantizes_input();
    if (layer.quantized_input) {
      const FakeQuantizer& ifq = twin->input_fake_quant();
      layer.input_spec = ifq.spec();
      if (ifq.spec().scale_source != quant::ScaleSource::kCurrent) {
        QParams p = ifq.qparams(Tensor());
        layer.input_params = {p.scale.detach().contiguous().clone(),
                              rounded_zero_point(p, ifq.spec())};
      }
    }
    layer.bias = bias.defined() ? bias.detach().contiguous().clone() : Tensor();
    layers.push_back(std::move(layer));
  }
  OCTET_CHECK(!layers.empty(), "convert",
              "the model holds no fake-quant layers: run prepare (QAT) or calibrate (PTQ) first");
  return layers;
}

}  // namespace octet::qat
