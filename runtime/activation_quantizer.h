#pragma once
// How a layer's inputs become codes at run time: the input QuantSpec of the model file plus its
// stored scale (static) or the rule that derives one from each input (ops/quant/dynamic_scales.h),
// the same rule fake-quant used in training.
#include <cstdint>
#include <string>
#include <vector>

#include "ops/quant/quant_spec.h"
#include "runtime/model_file.h"

namespace octet::runtime {

class ActivationQuantizer {
 public:
  ActivationQuantizer() = default;  // disabled: inputs stay f32
  // The input quantization of `layer` in `file` (disabled when the layer has none).
  static ActivationQuantizer load(const ModelFile& file, const proto::Layer& layer);

  bool enabled() const { return enabled_; }
  bool is_static() const { return !scales_.empty(); }
  const quant::QuantSpec& spec() const { return spec_; }
  // Scales (and zero points as floats; null to skip) for x of `shape` under spec(): the stored
  // ones, or computed from x. Sizes: quant::scale_layout(spec(), shape).count.
  void scales_for(const float* x, const Shape& shape, float* scales, float* zero_points) const;
  // out = dequantize(quantize(x)), exactly what the training model's fake-quant gives.
  void fake_quantize(const float* x, const Shape& shape, float* out) const;

 private:
  bool enabled_ = false;
  std::string where_;  // "<file>: layer '<name>' input"
  quant::QuantSpec spec_;
  std::vector<float> scales_, zero_points_;  // stored scales; empty when computed per input
};

// The f32 values of `name` in `file` (any shape with `count` elements), checked.
std::vector<float> read_floats(const ModelFile& file, const std::string& name, int64_t count);

}  // namespace octet::runtime
