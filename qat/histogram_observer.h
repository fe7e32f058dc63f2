#pragma once
// Histogram observer (percentile calibration): a histogram of `bins` equal bins over the running
// range, re-binned when the range grows; the clipping range is a percentile of it. Symmetric
// integer and FP8 specs histogram |x| over [0, amax] and clip at the percentile p of |x|; affine
// specs histogram x over [min, max] and clip at the percentiles 100 - p and p. Per tensor only:
// calibrating activations is what it is for, and per-channel weights use min-max or MSE.
//
// Buffers: histogram {bins}; neg_min_val, max_val {1} (the histogram's range, 0 and amax for |x|);
// observed. Under data parallelism the ranks agree on the range (MAX) before binning and then SUM
// their batch histograms, so every rank holds the histogram of the global batch.
#include <utility>

#include "qat/observer.h"

namespace octet::qat {

class HistogramObserver : public Observer {
 public:
  HistogramObserver(const quant::QuantSpec& spec, int64_t channels, int64_t bins = 2048,
                    double percentile = 99.99, int margin = 0);
  std::string type_name() const override { return "HistogramObserver"; }
  void observe(const Tensor& x) override;
  QParams qparams() const override;

  // The clipping range the percentile picks, (-t, t) for |x| histograms; (0, 0) before data.
  std::pair<float, float> clip_range() const;
  // The histogram's range (lo, hi) and its bin width.
  std::pair<float, float> range() const;
  double bin_width() const;

 private:
  bool absolute() const { return spec().is_fp8() || spec().symmetric; }

  int64_t bins_;
  double percentile_;
  int margin_;
  Tensor histogram_, neg_min_val_, max_val_;
};

}  // namespace octet::qat
