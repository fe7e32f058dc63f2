#include "runtime/activation_quantizer.h"

#include <algorithm>

#include "ops/error.h"
#include "ops/quant/dynamic_scales.h"
#include "ops/quant/quantize.h"

namespace octet::runtime {

std::vector<float> read_floats(const ModelFile& file, const std::string& name, int64_t count) {
  OCTET_CHECK(file.has_tensor(name), "qmodel", file.path(), ": tensor '", name, "' is missing");
  const View v = file.archive().view(name);
  OCTET_CHECK(v.dtype == DType::f32 && v.numel() == count, "qmodel", file.path(), ": tensor '",
              name, "': expected ", count, " f32 values, found ", dtype_name(v.dtype), " ",
              shape_str(v.shape));
  const float* p = v.ptr<const float>();
  return std::vector<float>(p, p + count);
}

ActivationQuantizer ActivationQuantizer::load(const ModelFile& file, const proto::Layer& layer) {
  ActivationQuantizer q;
  if (!layer.has_input()) return q;
  q.enabled_ = true;
  q.where_ = file.path() + ": layer '" + layer.name() + "' input";
  q.spec_ = file.input_spec(layer);
  if (layer.input().static_scale()) {
    // Static scales are per tensor or per channel of the input's last axis; their count does not
    // depend on the number of rows.
    OCTET_CHECK(q.spec_.granularity == quant::Granularity::kPerTensor ||
                    q.spec_.granularity == quant::Granularity::kPerChannel,
                "qmodel", q.where_, ": a stored scale needs a per-tensor or per-channel spec, got ",
                q.spec_.str());
    const int64_t count =
        q.spec_.granularity == quant::Granularity::kPerTensor ? 1 : layer.in_features();
    q.scales_ = read_floats(file, layer.name() + ".input_scale", count);
    if (!q.spec_.is_fp8() && file.has_tensor(layer.name() + ".input_zero_point"))
      q.zero_points_ = read_floats(file, layer.name() + ".input_zero_point", count);
  }
  return q;
}

void ActivationQuantizer::scales_for(const float* x, const Shape& shape, float* scales,
                                     float* zero_points) const {
  const quant::ScaleLayout layout = quant::scale_layout(spec_, shape);
  if (is_static()) {
    OCTET_CHECK(layout.count == static_cast<int64_t>(scales_.size()), "runtime", where_, ": input ",
                shape_str(shape), " needs ", layout.count, " scales, the file has ",
                scales_.size());
    std::copy(scales_.begin(), scales_.end(), scales);
    if (zero_points) {
      if (zero_points_.empty())
        std::fill_n(zero_points, layout.count, 0.0f);
      else
        std::copy(zero_points_.begin(), zero_points_.end(), zero_points);
    }
    return;
  }
  quant::current_scales(spec_, x, numel_of(shape), layout, scales, zero_points, where_.c_str());
}

void ActivationQuantizer::fake_quantize(const float* x, const Shape& shape, float* out) const {
  const quant::ScaleLayout layout = quant::scale_layout(spec_, shape);
  const int64_t n = numel_of(shape);
  std::vector<float> scales(layout.count), zps(layout.count);
  scales_for(x, shape, scales.data(), zps.data());
  if (spec_.is_fp8()) {
    const quant::Fp8Format format = quant::fp8_format_of(spec_.format);
    std::vector<uint8_t> codes(n);
    quant::quantize_fp8(x, n, layout, scales.data(), format, spec_.saturate, codes.data());
    quant::dequantize_fp8(codes.data(), n, layout, scales.data(), format, out);
    return;
  }
  // Symmetric specs quantize around 0 whatever a rule would say for their zero point, as the
  // training side's fake-quant does.
  const float* zp = spec_.symmetric ? nullptr : zps.data();
  if (spec_.qmin >= 0) {
    std::vector<uint8_t> codes(n);
    quant::quantize_int(x, n, layout, scales.data(), zp, spec_.qmin, spec_.qmax, codes.data());
    quant::dequantize_int(codes.data(), n, layout, scales.data(), zp, spec_.qmin, spec_.qmax, out);
  } else {
    std::vector<int8_t> codes(n);
    quant::quantize_int(x, n, layout, scales.data(), zp, spec_.qmin, spec_.qmax, codes.data());
    quant::dequantize_int(codes.data(), n, layout, scales.data(), zp, spec_.qmin, spec_.qmax, out);
  }
}

}  // namespace octet::runtime
