#pragma once
// Observers: from the tensors a model sees (weights, activations) to the scales of a QuantSpec.
// Each family keeps its statistics in f32 buffers, so they are saved with a checkpoint and loaded
// by name. Under data parallelism (inside a parallel::StatisticsSyncScope) every family reduces
// its batch statistics across ranks before folding them in: ranges and amaxes by MAX (minimums
// travel negated, as `neg_min_val` stores them), histogram counts by SUM over one agreed range.
// Every rank then holds bitwise-identical buffers, those of the global batch, and derives the same
// scales. The scale rules are ops/quant/scale_rules.h's.
//
// Families (make_observer picks one by ObserverKind; each has its own header):
//   kMinMax              running min/max per scale                     (minmax_observer.h)
//   kMovingAverageMinMax first batch sets, then x += c * (batch - x)   (minmax_observer.h)
//   kHistogram           histogram of |x| (affine: x), clip at a percentile; per tensor only
//                                                                      (histogram_observer.h)
//   kMse                 clip threshold minimising the expected quantization MSE over a
//                        histogram per scale                           (mse_observer.h)
//   kAmaxHistory         FP8 delayed scaling: amax history, max or latest, margin
//                                                                      (amax_history_observer.h)
// Per-token specs have nothing to observe (each tensor's own rows give its scales at run time):
// make_observer throws for them.
//
// On a CUDA device (after Module::to) the min-max families and the amax history keep their
// statistics on the device and update them with the kernels of ops/cuda/observer_state.h, in the
// same float operations as here, so the state and the scales are bit for bit the CPU's; qparams()
// then returns device tensors. A training step brings nothing back to the host, except inside a
// parallel::StatisticsSyncScope, whose all-reduce works on host memory: there the batch
// statistics make the round trip (and a non-finite range throws as on the CPU). Histogram and MSE
// observers calibrate on the CPU only and say so.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/nn/module.h"
#include "ops/quant/quant_spec.h"
#include "qat/quant_params.h"

namespace octet::qat {

enum class ObserverKind { kMinMax, kMovingAverageMinMax, kHistogram, kMse, kAmaxHistory };

struct ObserverOptions {
  ObserverKind kind = ObserverKind::kMinMax;
  double averaging_constant = 0.01;  // moving average
  int64_t bins = 2048;               // histogram
  double percentile = 99.99;    // histogram: clip at this percentile of |x| (or of x for affine)
  int64_t history_length = 16;  // FP8 delayed scaling
  bool history_most_recent = false;  // reduce the amax history by max (false) or take the latest
  int margin = 0;                    // FP8: s = fp8_max / amax / 2^margin (every family)
  int64_t mse_bins = 512;            // MSE: histogram bins per scale
  int64_t mse_candidates = 100;      // MSE: clip thresholds tried, k / mse_candidates of amax
};

const char* observer_kind_name(ObserverKind kind);

// The 0/1 switches a forward consults on the host (observing, fake-quantizing, observed, LSQ
// initialised) are f32 scalar buffers, so checkpoints carry them; but reading one on a GPU would
// cost a device->host synchronisation per forward. Module::to moves them with every other buffer,
// so the first access after a move brings the scalar back to host memory (nn::move_in_place: one
// 4-byte copy per move, not per step), where it then stays. Checkpoint loads and load_state write
// it in place, on the host, and every later read or write is a plain host access, so there is no
// mirror to keep in step. Returns the value's host slot.
float& host_switch(const Tensor& buffer);

class Observer : public nn::Module {
 public:
  // channels: the number of scales (quant::scale_layout(spec, shape).count; 1 per tensor).
  // Throws for per-token specs, for specs that fail validate(), and for channel counts that
  // contradict the granularity.
  Observer(const quant::QuantSpec& spec, int64_t channels);

  const quant::QuantSpec& spec() const { return spec_; }
  int64_t channels() const { return channels_; }

  // Updates statistics from x (f32, any shape whose scale_layout(spec, x.shape()).count ==
  // channels, on the device of the observer's statistics); no autograd; a no-op while frozen or
  // for an empty x. Throws naming the observer and both shapes on a misfit. Integer families and
  // the histogram/MSE families throw on NaN or infinite values and leave their statistics
  // unchanged (on a GPU the min-max families skip such a batch without throwing: see
  // MinMaxObserver::rejected_batches); the amax history records them (its scale rule keeps the
  // previous scale).
  virtual void observe(const Tensor& x) = 0;

  // Scale (and zero point for affine integer specs) from the statistics so far, per
  // ops/quant/scale_rules.h; scale and zero point are f32 of shape {channels}, on the device of
  // the statistics. Before any observation: scale 1, zero point per the rule for the range [0, 0].
  virtual QParams qparams() const = 0;

  void freeze(bool on = true) { frozen_ = on; }
  bool frozen() const { return frozen_; }
  // Whether a batch has been folded in. Read from host memory (host_switch) without a device
  // synchronisation, except in the families whose device kernels own the flag (min-max: a batch
  // their kernel rejects must leave it unset), where reading it on a GPU synchronises.
  bool has_observed() const;

 protected:
  // x checked against the spec and the channel count, detached and contiguous.
  struct Batch {
    Tensor data;
    quant::ScaleLayout layout;
    const float* values() const { return data.data<float>(); }
    // The same on a CUDA device (data<T>() is for host memory).
    const float* device_values() const { return static_cast<const float*>(data.view().data); }
    int64_t numel() const { return data.numel(); }
  };
  Batch checked_batch(const Tensor& x) const;
  // Throws naming the observer unless x lives where its statistics (`state`) do.
  void require_device_of(const Tensor& x, const Tensor& state) const;
  // For the families that calibrate on the CPU only (histogram, MSE): throws naming the observer
  // and saying to calibrate on the CPU when x (if defined) or the statistics are on a GPU.
  void require_host(const Tensor& x, const Tensor& state) const;
  // Throws when any per-scale statistic is NaN or infinite, naming the observer, x and the scale.
  void require_finite(const Tensor& x, const std::vector<float>& lo,
                      const std::vector<float>& hi) const;
  // The batch's per-scale min and max, checked finite as above.
  void finite_min_max(const Batch& batch, const Tensor& x, std::vector<float>& lo,
                      std::vector<float>& hi) const;
  // Inside a parallel::StatisticsSyncScope: replaces each rank's per-scale range with the range
  // over all ranks' batches (one MAX all-reduce of [-lo, hi]), so that statistics folded from it
  // are bitwise identical everywhere. A no-op in one process.
  static void sync_ranges(std::vector<float>& lo, std::vector<float>& hi);
  // Adds the batch's histogram over [lo[c], hi[c]] (bins per scale, |x| when `absolute`) to
  // `counts`; inside a sync scope, every rank's batch histogram (a SUM all-reduce: counts are
  // integers, exact in f32 below 2^24 per bin and batch).
  static void accumulate_synced(const Batch& batch, bool absolute, const std::vector<float>& lo,
                                const std::vector<float>& hi, int64_t bins, float* counts);
  void mark_observed();
  // True for the families whose kernels read and set the "observed" flag on the device (it then
  // moves with Module::to like the statistics and is never brought to the host).
  virtual bool device_owns_observed() const { return false; }
  // The flag's device pointer for those kernels; throws unless it lives on `device`.
  float* device_observed(const Device& device) const;

  // QParams from one clipping range [lo[c], hi[c]] per scale: int_qparams for integer specs,
  // fp8_scale(max(-lo, hi)) with `margin` for FP8 (falling back to scale 1).
  QParams qparams_from_ranges(const std::vector<float>& lo, const std::vector<float>& hi,
                              int margin) const;
  QParams initial_qparams() const;
  // "MinMaxObserver(int8 sym [-127,127] per-channel(axis 0) observer, 64 scales)", for errors.
  std::string describe() const;
  // An f32 buffer of `shape` filled with `value`, registered under `name`.
  Tensor add_buffer(const std::string& name, const Shape& shape, float value);

 private:
  quant::QuantSpec spec_;
  int64_t channels_;
  bool frozen_ = false;  // schedule state, set again by the schedule on resume: not a buffer
  Tensor observed_;      // 0/1 f32 scalar, in host memory (host_switch) but see has_observed
};

// Builds the family `options.kind` names. Throws (naming the spec) for per-token specs, for an
// amax history on an integer spec, for a per-channel histogram and for options out of range.
std::shared_ptr<Observer> make_observer(const quant::QuantSpec& spec, int64_t channels,
                                        const ObserverOptions& options = {});

}  // namespace octet::qat
