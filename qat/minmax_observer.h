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
//
// On a CUDA device the range is folded in by cuda::minmax_observe and turned into scales by
// cuda::minmax_qparams (ops/cuda/observer_state.h), bit for bit the CPU's; those kernels also own
// the "observed" flag there. The one difference: a NaN or infinite batch cannot throw on the
// device without a synchronisation, so it is skipped (every buffer stays as it was, as after the
// CPU's throw) and counted in rejected_batches().
#include <algorithm>
#include <cmath>

#include "qat/observer.h"

namespace octet::qat {

class MinMaxObserver : public Observer {
 public:
  MinMaxObserver(const quant::QuantSpec& spec, int64_t channels, int margin = 0);
  std::string type_name() const override { return "MinMaxObserver"; }
  void observe(const Tensor& x) override;
  QParams qparams() const override;

  // The observed range per scale (min, max); +inf / -inf before any data. Copies from a device.
  std::vector<float> min_val() const;
  std::vector<float> max_val() const;

  // Batches skipped on a CUDA device for NaN or infinite values (where the CPU throws) since the
  // statistics last moved there; 0 on the CPU. Reading it synchronises with the device.
  int64_t rejected_batches() const;

 protected:
  bool device_owns_observed() const override { return true; }
  // The moving average's constant; 0 for the running min/max. The device kernel folds by it.
  virtual float averaging_constant() const { return 0.0f; }
  // Folds one batch statistic (-min or max) into the running one; the batch is never the first.
  float update(float running, float batch) const {
    const float c = averaging_constant();
    // The moving average is written as the one fused multiply-add that GCC made of
    // running + c * (batch - running) under -march=native (contraction is its default), so that
    // it no longer depends on build flags and cuda::minmax_observe can repeat it exactly.
    return c == 0.0f ? std::max(running, batch) : std::fma(c, batch - running, running);
  }

 private:
  void observe_cuda(const Batch& batch, const Tensor& x);

  int margin_;
  Tensor neg_min_val_, max_val_;
  Tensor rejected_;  // i32 scalar on the statistics' device; not a buffer (not checkpointed)
};

class MovingAverageMinMaxObserver : public MinMaxObserver {
 public:
  MovingAverageMinMaxObserver(const quant::QuantSpec& spec, int64_t channels,
                              double averaging_constant = 0.01, int margin = 0);
  std::string type_name() const override { return "MovingAverageMinMaxObserver"; }

 protected:
  float averaging_constant() const override { return averaging_constant_; }

 private:
  float averaging_constant_;
};

}  // namespace octet::qat
