#pragma once
// convert: from a prepared (QAT-trained or PTQ-calibrated) model to the quantized weights and
// scales an export writes. The codes come from ops/quant/quantize.h, whose arithmetic is the
// fake-quant kernels', so dequantize(codes) equals the fake-quant weight the model trained with,
// bit for bit.
#include <string>
#include <vector>

#include "framework/nn/module.h"
#include "qat/quant_params.h"

namespace octet::qat {

struct QuantizedTensor {
  quant::QuantSpec spec;
  Tensor codes;    // i8 for signed integer ranges, u8 for unsigned ranges and FP8; source shape
  QParams params;  // zero points rounded and clamped to the integers the kernels use
};

struct ConvertedLayer {
  std::string name;  // dotted name in the model ("blocks.0.attn.qkv")
  std::string kind;  // "linear", "conv2d" or "embedding" (weight-only, no bias)
  QuantizedTensor weight;
  bool quantized_input = true;  // false: weight-only, input_spec and input_params unused
  quant::QuantSpec input_spec;
  QParams input_params;  // scale undefined when inputs are quantized from each tensor at run time
  Tensor bias;           // f32; undefined for a Linear without bias
  int64_t stride = 1, padding = 0;  // conv2d
};

// Quantizes x (f32) to stored codes under spec and p.
QuantizedTensor quantize_tensor(const Tensor& x, const quant::QuantSpec& spec, const QParams& p);
// The f32 values the codes stand for.
Tensor dequantize_tensor(const QuantizedTensor& q);

// Every fake-quant twin of the tree (QuantEmbedding tables included), in tree order. Throws if the
// tree holds none.
std::vector<ConvertedLayer> convert(nn::Module& root);

}  // namespace octet::qat
