#include "runtime/linear_op.h"

#include <vector>

#include "ops/cpu/gemm.h"
#include "ops/error.h"
#include "ops/quant/qgemm.h"
#include "ops/quant/quantize.h"
#include "ops/quant/scale_rules.h"
#include "runtime/activation_quantizer.h"
#include "runtime/scratch.h"

namespace octet::runtime {
namespace {

using quant::Granularity;
using quant::QuantSpec;

// Weights the integer and FP8 GEMMs take directly: one scale per tensor or per output channel,
// and for integers symmetric codes that fit int8.
bool gemm_ready_weight(const QuantSpec& s) {
  const bool per_out = s.granularity == Granularity::kPerTensor ||
                       (s.granularity == Granularity::kPerChannel && s.axis == 0);
  if (s.is_fp8()) return per_out;
  return per_out && s.symmetric && s.qmin >= -128 && s.qmax <= 127;
}

// Inputs the int8 GEMM takes: one scale (and zero point) per tensor, or symmetric per token.
bool gemm_ready_int_input(const QuantSpec& s) {
  if (s.is_fp8()) return false;
  const bool fits = (s.qmin >= -128 && s.qmax <= 127) || (s.qmin >= 0 && s.qmax <= 255);
  if (!fits) return false;
  return s.granularity == Granularity::kPerTensor ||
         (s.granularity == Granularity::kPerToken && s.symmetric &&
          s.scale_source == quant::ScaleSource::kCurrent);
}

bool gemm_ready_fp8_input(const QuantSpec& s) {
  return s.is_fp8() && s.granularity == Granularity::kPerTensor;
}

View matrix(const float* p, int64_t rows, int64_t cols) {
  return View{const_cast<float*>(p), DType::f32, {}, {rows, cols}, {cols, 1}};
}

// W^T as a strided view of W [out, in]: the GEMM reads it transposed without a copy.
View transposed(const float* w, int64_t out, int64_t in) {
  return View{const_cast<float*>(w), DType::f32, {}, {in, out}, {1, in}};
}

thread_local LayerTap layer_tap;

}  // namespace

struct LinearOp::Impl {
  LinearKind kind = LinearKind::kF32;
  std::string name, description;
  int64_t in = 0, out = 0;
  const float* weight = nullptr;    // f32 [out, in]: the mapping's, or weight_owned's
  std::vector<float> weight_owned;  // emulated: the dequantized weight
  const float* bias = nullptr;      // f32 [out] in the mapping, or null
  const void* codes = nullptr;      // kInt8 / kWeightOnly / kFp8: the stored codes (mapping)
  QuantSpec weight_spec;            // of a quantized layer
  ActivationQuantizer input;
  quant::Int8Weight int8;
  quant::Fp8Weight fp8;
  quant::LlmInt8Weight llm;

  void run_f32(const float* x, int64_t m, float* y) const {
    const View b{const_cast<float*>(bias), DType::f32, {}, {out}, {1}};
    cpu::matmul(matrix(x, m, in), transposed(weight, out, in), matrix(y, m, out),
                bias ? &b : nullptr);
  }

  void run_int8(const float* x, int64_t m, float* y) const {
    thread_local std::vector<uint8_t> codes;
    thread_local std::vector<float> scales, zero_points;
    const QuantSpec& spec = input.spec();
    const Shape shape{m, in};
    const quant::ScaleLayout layout = quant::scale_layout(spec, shape);
    input.scales_for(x, shape, grow(scales, layout.count), grow(zero_points, layout.count));
    const float* zp = spec.symmetric ? nullptr : zero_points.data();
    quant::Int8Activations a;
    a.is_unsigned = spec.qmin >= 0;
    a.codes = grow(codes, m * in);
    a.m = m;
    a.k = in;
    a.ld = in;
    a.scales = scales.data();
    a.scale_count = layout.count;
    a.zero_point =
        zp ? static_cast<int32_t>(quant::integer_zero_point(zero_points[0], spec.qmin, spec.qmax))
           : 0;
    if (a.is_unsigned)
      quant::quantize_int(x, m * in, layout, scales.data(), zp, spec.qmin, spec.qmax,
                          reinterpret_cast<uint8_t*>(codes.data()));
    else
      quant::quantize_int(x, m * in, layout, scales.data(), zp, spec.qmin, spec.qmax,
                          reinterpret_cast<int8_t*>(codes.data()));
    quant::int8_gemm(a, int8, bias, y, out);
  }

  void run_fp8(const float* x, int64_t m, float* y) const {
    thread_local std::vector<uint8_t> codes;
    const QuantSpec& spec = input.spec();
    const Shape shape{m, in};
    const quant::ScaleLayout layout = quant::scale_layout(spec, shape);
    float scale = 1.0f;
    input.scales_for(x, shape, &scale, nullptr);
    quant::quantize_fp8(x, m * in, layout, &scale, quant::fp8_format_of(spec.format), spec.saturate,
                        grow(codes, m * in));
    quant::fp8_gemm(codes.data(), quant::fp8_format_of(spec.format), m, in, in, scale, fp8, bias, y,
                    out);
  }

  void run_emulated(const float* x, int64_t m, float* y) const {
    if (!input.enabled()) return run_f32(x, m, y);
    thread_local std::vector<float> xq;
    input.fake_quantize(x, {m, in}, grow(xq, m * in));
    run_f32(xq.data(), m, y);
  }
};

LinearOp LinearOp::load(const ModelFile& file, const std::string& name, const Shape& weight_shape,
                        bool bias, LinearLoadOptions options) {
  OCTET_CHECK(weight_shape.size() >= 2, "runtime", "layer '", name, "': weight shape ",
              shape_str(weight_shape), " is not a matrix");
  auto impl = std::make_shared<Impl>();
  impl->name = name;
  impl->out = weight_shape[0];
  impl->in = numel_of(weight_shape) / weight_shape[0];
  const proto::Layer* layer = file.layer(name);
  const std::string where = file.path() + ": layer '" + name + "'";
  if (layer) {
    OCTET_CHECK(layer->has_bias() == bias, "qmodel", where, ": the architecture ",
                bias ? "has" : "has no", " bias, the file says the opposite");
  }
  if (bias) impl->bias = file.tensor(name + ".bias", DType::f32, {impl->out}).ptr<const float>();
  if (!layer) {
    impl->kind = LinearKind::kF32;
    impl->weight = file.tensor(name + ".weight", DType::f32, weight_shape).ptr<const float>();
    impl->description = "f32";
    return LinearOp(std::move(impl));
  }

  const QuantSpec wspec = file.weight_spec(*layer);
  impl->weight_spec = wspec;
  if (!options.input_prequantized) impl->input = ActivationQuantizer::load(file, *layer);
  const ActivationQuantizer& input = impl->input;
  const std::string input_text = input.enabled() ? input.spec().str() : "f32";

  if (layer->llm_int8()) {
    const View cols = file.archive().view(name + ".outlier_columns");
    const int64_t k = cols.numel();
    const View outlier_w = file.tensor(name + ".outlier_weight", DType::f32, {impl->out, k});
    const View codes = file.tensor(name + ".weight_codes", DType::i8, {impl->out, impl->in - k});
    const std::vector<float> scales = read_floats(file, name + ".weight_scale", impl->out);
    const int64_t* c = cols.ptr<const int64_t>();
    impl->llm = quant::LlmInt8Weight(
        std::vector<int64_t>(c, c + k), outlier_w.ptr<const float>(),
        quant::Int8Weight(codes.ptr<const int8_t>(), impl->out, impl->in - k, scales));
    impl->kind = LinearKind::kLlmInt8;
    impl->description =
        "llm.int8: " + std::to_string(k) + " outlier columns f32, rest int8 x " + input_text;
    return LinearOp(std::move(impl));
  }

  const bool unsigned_codes = wspec.is_fp8() || wspec.qmin >= 0;
  const View codes =
      file.tensor(name + ".weight_codes", unsigned_codes ? DType::u8 : DType::i8, weight_shape);
  const quant::ScaleLayout wlayout = quant::scale_layout(wspec, weight_shape);
  std::vector<float> wscales = read_floats(file, name + ".weight_scale", wlayout.count);
  const std::string weight_text = "weight " + wspec.str() + ", input " + input_text;

  if (gemm_ready_weight(wspec)) {
    impl->codes = codes.data;
    if (wspec.is_fp8() && input.enabled() && gemm_ready_fp8_input(input.spec())) {
      impl->fp8 = quant::Fp8Weight(codes.ptr<const uint8_t>(), quant::fp8_format_of(wspec.format),
                                   impl->out, impl->in, std::move(wscales));
      impl->kind = LinearKind::kFp8;
      impl->description = "fp8 GEMM (bf16 emulation): " + weight_text;
      return LinearOp(std::move(impl));
    }
    if (!wspec.is_fp8() && (!input.enabled() || gemm_ready_int_input(input.spec()))) {
      impl->int8 =
          quant::Int8Weight(codes.ptr<const int8_t>(), impl->out, impl->in, std::move(wscales));
      impl->kind = input.enabled() ? LinearKind::kInt8 : LinearKind::kWeightOnly;
      impl->description = (input.enabled() ? "int8 GEMM: " : "weight-only int8: ") + weight_text;
      return LinearOp(std::move(impl));
    }
  }
  // Emulation: dequantize the weight once; the input is fake-quantized per call.
  impl->codes = nullptr;
  impl->weight_owned.resize(impl->out * impl->in);
  std::vector<float> wzp;
  if (!wspec.is_fp8() && !wspec.symmetric)
    wzp = read_floats(file, name + ".weight_zero_point", wlayout.count);
  const int64_t n = impl->out * impl->in;
  if (wspec.is_fp8())
    quant::dequantize_fp8(codes.ptr<const uint8_t>(), n, wlayout, wscales.data(),
                          quant::fp8_format_of(wspec.format), impl->weight_owned.data());
  else if (unsigned_codes)
    quant::dequantize_int(codes.ptr<const uint8_t>(), n, wlayout, wscales.data(),
                          wzp.empty() ? nullptr : wzp.data(), wspec.qmin, wspec.qmax,
                          impl->weight_owned.data());
  else
    quant::dequantize_int(codes.ptr<const int8_t>(), n, wlayout, wscales.data(),
                          wzp.empty() ? nullptr : wzp.data(), wspec.qmin, wspec.qmax,
                          impl->weight_owned.data());
  impl->weight = impl->weight_owned.data();
  impl->kind = LinearKind::kEmulated;
  impl->description = "emulated in f32 (no integer kernel for this layout): " + weight_text;
  return LinearOp(std::move(impl));
}

void set_layer_tap(LayerTap tap) { layer_tap = std::move(tap); }

void LinearOp::forward(const float* x, int64_t m, float* y) const {
  OCTET_CHECK(impl_, "runtime", "forward on an unloaded linear layer");
  if (m == 0) return;
  const Impl& p = *impl_;
  switch (p.kind) {
    case LinearKind::kF32:
      p.run_f32(x, m, y);
      break;
    case LinearKind::kInt8:
      p.run_int8(x, m, y);
      break;
    case LinearKind::kFp8:
      p.run_fp8(x, m, y);
      break;
    case LinearKind::kWeightOnly:
      quant::weight_only_int8_gemm(x, m, p.in, p.in, p.int8, p.bias, y, p.out);
      break;
    case LinearKind::kLlmInt8:
      quant::llm_int8_gemm(x, m, p.in, p.in, p.llm, p.bias, y, p.out);
      break;
    case LinearKind::kEmulated:
      p.run_emulated(x, m, y);
      break;
  }
  if (layer_tap) layer_tap(p.name, x, m, p.in, y, p.out);
}

int64_t LinearOp::in_features() const { return impl_ ? impl_->in : 0; }
int64_t LinearOp::out_features() const { return impl_ ? impl_->out : 0; }
LinearKind LinearOp::kind() const { return impl_ ? impl_->kind : LinearKind::kF32; }

bool LinearOp::input_scale_from_batch() const {
  if (!impl_ || !impl_->input.enabled()) return false;
  const QuantSpec& s = impl_->input.spec();
  return s.scale_source == quant::ScaleSource::kCurrent && s.granularity == Granularity::kPerTensor;
}
std::string LinearOp::describe() const { return impl_ ? impl_->description : "unloaded"; }

LinearOp::Parts LinearOp::parts() const {
  OCTET_CHECK(impl_, "runtime", "parts of an unloaded linear layer");
  const Impl& p = *impl_;
  Parts parts;
  parts.kind = p.kind;
  parts.name = p.name;
  parts.in = p.in;
  parts.out = p.out;
  parts.weight = p.weight;
  parts.bias = p.bias;
  parts.weight_spec = p.weight_spec;
  if (p.kind == LinearKind::kInt8 || p.kind == LinearKind::kWeightOnly) {
    parts.weight_codes = p.codes;
    parts.weight_scales = p.int8.scales();
  } else if (p.kind == LinearKind::kFp8) {
    parts.weight_codes = p.codes;
    parts.weight_scales = p.fp8.scales();
  }
  parts.input_quantized = p.input.enabled();
  if (p.input.enabled()) {
    parts.input_spec = p.input.spec();
    if (p.input.is_static()) {
      // Stored scales do not depend on the input (scales_for never reads x for them), and their
      // count does not depend on the number of rows.
      const Shape shape{1, p.in};
      parts.input_scales.resize(quant::scale_layout(parts.input_spec, shape).count);
      p.input.scales_for(nullptr, shape, parts.input_scales.data(), nullptr);
    }
  }
  return parts;
}

size_t LinearOp::resident_bytes() const {
  if (!impl_) return 0;
  const Impl& p = *impl_;
  switch (p.kind) {
    case LinearKind::kF32:
      return 0;  // the file's mapping
    case LinearKind::kInt8:
    case LinearKind::kWeightOnly:
      return p.int8.resident_bytes();
    case LinearKind::kFp8:
      return p.fp8.resident_bytes();
    case LinearKind::kLlmInt8:
      return p.llm.resident_bytes();
    case LinearKind::kEmulated:
      return p.weight_owned.size() * sizeof(float);
  }
  return 0;
}

}  // namespace octet::runtime
