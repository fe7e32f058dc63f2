#pragma once
// LLM.int8() (Dettmers et al. 2022) as a PTQ twin of Linear: vector-wise int8 with a
// mixed-precision decomposition. The input's feature columns split in two:
//   regular columns  inputs int8 symmetric per token (each row's own absmax over the regular
//                    columns), weights int8 symmetric per output channel over the regular
//                    columns only; fake-quantized with the fused STE op, so gradients still flow
//   outlier columns  full precision: x[:, outliers] @ W[:, outliers]^T
// and y = regular part + outlier part (+ bias). A column is an outlier if any calibration row
// exceeded the threshold (6.0) in magnitude; before any calibration each batch decides its own
// set (bitsandbytes' dynamic rule).
//
// Design: the statistics live in the layer's input quantizer, an OutlierColumnQuantizer. It IS a
// FakeQuantizer (per-token, current scaling: the regular columns' quantizer) so qat::calibrate,
// enable_observers / enable_fake_quant and QatSchedule drive it with the switches they already
// use, and it adds the outlier set as buffers. While calibrating (observer on, training mode,
// fake-quant off) the layer records columns and runs in FP32, like every other twin.
#include <string>
#include <vector>

#include "framework/nn/layers.h"
#include "qat/fake_quantizer.h"
#include "qat/layer_swap.h"

namespace octet::qat {

inline constexpr double kLlmInt8Threshold = 6.0;

class OutlierColumnQuantizer : public FakeQuantizer {
 public:
  // in_features: the columns of the inputs; threshold: > 0 and finite.
  OutlierColumnQuantizer(int64_t in_features, double threshold);
  std::string type_name() const override { return "OutlierColumnQuantizer"; }

  // Observer on and training mode: what calibrate and QAT warm-ups set.
  bool observing() const;
  // If observing: adds the columns of x (f32 [rows, in_features]) whose |x| exceeds the
  // threshold in any row to the outlier set, and marks the set calibrated. Else a no-op.
  void observe_columns(const Tensor& x);
  // Whether a calibrated outlier set exists (then it is used for every batch).
  bool calibrated() const;
  // The outlier columns (ascending) for input x [rows, in_features]: the calibrated set, or
  // before calibration the columns x itself has above the threshold.
  std::vector<int64_t> outlier_columns(const Tensor& x) const;
  // The calibrated set (empty before calibration).
  std::vector<int64_t> calibrated_columns() const;
  double threshold() const { return threshold_; }
  // Buffers "outlier_mask" (f32 [in_features], 1 for an outlier column) and "calibrated" (f32
  // scalar, 0 or 1); both are MAX-reducible, so ranks that calibrate on different data agree
  // after a MAX all-reduce.
  const Tensor& outlier_mask() const { return mask_; }

 private:
  int64_t in_;
  double threshold_;
  Tensor mask_, calibrated_;
};

class LlmInt8Linear : public nn::Linear, public PreparedLayer {
 public:
  // Adopts source's weight and bias tensors. name: the layer's dotted name, for error messages.
  LlmInt8Linear(const nn::Linear& source, double threshold = kLlmInt8Threshold,
                std::string name = "LlmInt8Linear");
  std::string type_name() const override { return "LlmInt8Linear"; }
  // x: f32 [..., in_features] -> [..., out_features]. Plain FP32 while fake-quant is off.
  Tensor forward(const Tensor& x) override;

  OutlierColumnQuantizer& input_fake_quant() const { return *input_fq_; }
  // Per output channel, current scaling; applied to W[:, regular columns].
  FakeQuantizer& weight_fake_quant() const { return *weight_fq_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  nn::Child<OutlierColumnQuantizer> input_fq_;  // child "input_fake_quant"
  nn::Child<FakeQuantizer> weight_fq_;          // child "weight_fake_quant"
};

// Swaps every Linear whose dotted name contains none of `skip` for an LlmInt8Linear, as
// qat::prepare does; returns the swapped names in tree order. Throws naming the layer when it
// meets one already swapped (an LlmInt8Linear or a fake-quant twin).
std::vector<std::string> prepare_llm_int8(nn::Module& root, double threshold = kLlmInt8Threshold,
                                          const std::vector<std::string>& skip = {"lm_head"});

// What an export of a calibrated layer needs. Inputs are quantized per token at run time
// (int8 symmetric narrow, QuantSpec::int8_symmetric().per_token()), weights are int8 symmetric
// narrow per output channel; dequantizing regular_weight_codes with weight_scale gives the
// fake-quant regular weight of the layer bit for bit.
struct LlmInt8Parts {
  Tensor outlier_columns;       // i64 [k], ascending
  Tensor outlier_weight;        // f32 [out, k] = W[:, outlier_columns]
  Tensor regular_weight_codes;  // i8 [out, in - k], the other columns in ascending order
  Tensor weight_scale;          // f32 [out] (1 where there are no regular columns)
  Tensor bias;                  // f32 [out], undefined without bias
};

// Throws naming the layer if it has not been calibrated (its outlier set would be per batch).
LlmInt8Parts llm_int8_parts(const LlmInt8Linear& layer);

}  // namespace octet::qat
