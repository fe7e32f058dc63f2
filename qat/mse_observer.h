#pragma once
// MSE observer: the clipping range that minimises the expected squared quantization error of
// the observed data, per scale. Each scale keeps a histogram of x over its running range; at
// qparams() time `candidates` clipping ranges are tried, k / candidates of the observed one for
// k = 1..candidates ((-t, t) with t a fraction of amax for symmetric and FP8 specs, the range
// scaled toward 0 for affine ones), each turned into qparams by the spec's own rule, and the one
// with the least expected error wins (ties go to the wider range).
//
// The error of a candidate is exact for the histogram read as a piecewise-uniform density: the
// quantizer rounds to a grid (uniform for integers, the format's values for FP8) and clamps to
// its ends, and the integral of its squared error over a bin has a closed form, so a candidate
// costs O(bins) whatever its step. FP8 candidates assume saturation.
//
// Buffers: histogram {channels, bins}; neg_min_val, max_val {channels}; observed. qparams() costs
// O(channels * bins * candidates): call it after calibration, not every training step.
#include <utility>
#include <vector>

#include "qat/observer.h"

namespace octet::qat {

class MseObserver : public Observer {
 public:
  MseObserver(const quant::QuantSpec& spec, int64_t channels, int64_t bins = 512,
              int64_t candidates = 100, int margin = 0);
  std::string type_name() const override { return "MseObserver"; }
  void observe(const Tensor& x) override;
  QParams qparams() const override;

  // The clipping range chosen per scale, (lo, hi); (0, 0) before data.
  std::vector<std::pair<float, float>> clip_ranges() const;
  // The observed range per scale.
  std::vector<std::pair<float, float>> ranges() const;

 private:
  int64_t bins_, candidates_;
  int margin_;
  std::vector<double> unit_grid_;  // the quantizer's grid at scale 1 (see mse_observer.cpp)
  Tensor histogram_, neg_min_val_, max_val_;
};

}  // namespace octet::qat
