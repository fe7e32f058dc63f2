#pragma once
// Min-max observers: the running range per scale (PyTorch's MinMaxObserver and
// PerChannelMinMaxObserver), and its exponential moving average (MovingAverageMinMaxObserver and
// its per-channel twin): the first batch sets the range, each later one moves it by
// averaging_constant * (batch - range), per scale.
//
// Buffers: neg_min_val (minus the minimum, so a MAX all-reduce gives the global minimum) and
// max_val, f32 of shape {channels}, -inf before any data; observed. Under data parallelism the
// batch's range is MAX-reduced across ranks before it is folded in (Observer::sync_ranges), so
// the running and the moving-average ranges are those of the global batch on every rank.
#include <algorithm>

#include "qat/observer.h"

namespace octet::qat {

class MinMaxObserver : public Observer {
 public:
  MinMaxObserver(const quant::QuantSpec& spec, int64_t channels, int margin = 0);
  std::string type_name() const override { return "MinMaxObserver"; }
  void observe(const Tensor& x) override;
  QParams qparams() const override;

  // The observed range per scale (min, max); +inf / -inf before any data.
  std::vector<float> min_val() const;
  std::vector<float> max_val() const;

 protected:
  // Folds one batch statistic (-min or max) into the running one; the batch is never the first.
  virtual float update(float running, float batch) const { return std::max(running, batch); }

 private:
  int margin_;
  Tensor neg_min_val_, max_val_;
};

class MovingAverageMinMaxObserver : public MinMaxObserver {
 public:
  MovingAverageMinMaxObserver(const quant::QuantSpec& spec, int64_t channels,
                              double averaging_constant = 0.01, int margin = 0);
  std::string type_name() const override { return "MovingAverageMinMaxObserver"; }

 protected:
  float update(float running, float batch) const override {
    return running + averaging_constant_ * (batch - running);
  }

 private:
  float averaging_constant_;
};

}  // namespace octet::qat
