#pragma once
// FP8 delayed scaling (Transformer Engine's recipe): a window of the last `history_length` amaxes
// per scale, reduced by max (or the most recent one), gives s = fp8_max / amax / 2^margin. Where
// the reduced amax is 0, infinite or NaN the previous scale is kept, so one bad step cannot destroy
// the scale. history_length = 1 is current scaling.
//
// Delayed scaling calls qparams() before observe(x) (the scale for a step comes from earlier
// steps); current scaling calls observe(x) first.
//
// Buffers: amax_history {history_length, channels}, row 0 the most recent, zeros before data (NaN
// and inf are recorded as seen); scale {channels}, the scale as of the last observe(), 1 before
// data; observed. qparams() derives the scale from amax_history with `scale` as the fallback, so
// after a MAX all-reduce of amax_history every rank derives the same scale; `scale` itself is then
// identical on every rank, and its MAX all-reduce is a no-op.
//
// On a CUDA device the batch amax comes from cuda::abs_max and the commit-and-slide and the
// scales from cuda::amax_history_observe / amax_history_scales (ops/cuda/observer_state.h), bit
// for bit the CPU's, with nothing read back in a step: the first-observation test that delayed
// scaling makes (has_observed) is a host flag.
#include "qat/observer.h"

namespace octet::qat {

class AmaxHistoryObserver : public Observer {
 public:
  AmaxHistoryObserver(const quant::QuantSpec& spec, int64_t channels, int64_t history_length = 16,
                      bool most_recent = false, int margin = 0);
  std::string type_name() const override { return "AmaxHistoryObserver"; }
  void observe(const Tensor& x) override;
  QParams qparams() const override;

  // The history reduced per scale (max with NaN winning, or row 0). Copies from a device.
  std::vector<float> reduced_amax() const;

  // observe(x) from x's amax, computed elsewhere: fake-quant finds it in the pass that quantizes
  // x (qat/fake_quant.h's FakeQuantExtras), so delayed scaling reads x once. batch_amax: f32
  // [channels] on the observer's device; the same update as observe(x), cross-rank MAX included.
  void observe_amax(const Tensor& batch_amax);
  // Whether observe_amax can stand in for observe(x): one scale, and x f32 and not empty.
  bool takes_amax_of(const Tensor& x) const;

 private:
  void record(const Tensor& batch_amax);

  int64_t history_length_;
  bool most_recent_;
  int margin_;
  Tensor amax_history_, scale_;
};

}  // namespace octet::qat
