#pragma once
// The running state of QAT observers on a CUDA device: the small per-scale updates that follow a
// batch's range statistics (range.h's min_max / abs_max) and the scales derived from that state,
// so that an observer whose buffers live on a GPU never brings them to the host in a training
// step. The CPU twins are qat/minmax_observer.cpp, qat/amax_history_observer.cpp and the rules of
// ops/quant/scale_rules.h; each kernel repeats their float operations in the same order (no
// contraction: explicit __f*_rn intrinsics), and tests/gpu/cuda_observer_test.cpp checks the
// results bit for bit.
//
// Where the CPU throws (a non-finite batch range, a non-finite or inverted running range), a
// kernel cannot: see each function for what it does instead. All pointers are device pointers on
// `device`; everything runs on its octet stream, without a host synchronisation.
#include <cstdint>

#include "ops/quant/quant_spec.h"

namespace octet::cuda {

// MinMaxObserver::observe after its batch statistics: folds the batch range [batch_min[c],
// batch_max[c]] into the running neg_min_val[c] (minus the minimum) and max_val[c]:
//   *observed == 0 (first batch):  neg_min = -min, max = max
//   averaging_constant == 0:       running min/max (std::max of running and batch)
//   else:                          moving average, running + c * (batch - running) as one fused
//                                  multiply-add, exactly as the CPU computes it
// and sets *observed (the observer's f32 "observed" buffer) to 1.
// The CPU throws, before changing anything, when any batch statistic is NaN or infinite. Here the
// whole batch is skipped likewise (no scale changes, *observed untouched) and *rejected is
// incremented instead, for the caller to report when it next reads state on the host.
void minmax_observe(const float* batch_min, const float* batch_max, int64_t count,
                    float averaging_constant, float* neg_min_val, float* max_val, float* observed,
                    int32_t* rejected, int device);

// MinMaxObserver::qparams from the running state: for integer specs quant::int_qparams on
// [-neg_min_val[c], max_val[c]] (zero_point as a float, written when not null); for FP8 specs
// quant::fp8_scale(spec, max(neg_min_val, max_val), 1, margin). While *observed is 0, the
// initial parameters: scale 1 and the zero point of the range [0, 0]. Where int_qparams would
// throw (a non-finite or inverted range, which only overflowing data can produce) the scale and
// zero point are NaN, so the fake-quantized tensor is NaN and the loss shows it.
void minmax_qparams(const float* neg_min_val, const float* max_val, int64_t count,
                    const quant::QuantSpec& spec, const float* observed, int margin, float* scales,
                    float* zero_points, int device);

// quant::int_qparams per scale on ranges [mins[c], maxs[c]] as they come from range.h's min_max
// (integer current scaling); NaN scale and zero point where the CPU rule throws.
void int_qparams_from_ranges(const float* mins, const float* maxs, int64_t count,
                             const quant::QuantSpec& spec, float* scales, float* zero_points,
                             int device);

// AmaxHistoryObserver (FP8 delayed scaling), history {history_length, count}, row 0 the newest.
// scales[c] = fp8_scale(spec, reduced amax, previous_scale[c], margin), the reduction being the
// maximum over the rows with NaN winning, or row 0 when most_recent.
void amax_history_scales(const float* amax_history, int64_t count, int64_t history_length,
                         bool most_recent, const quant::QuantSpec& spec, int margin,
                         const float* previous_scale, float* scales, int device);

// AmaxHistoryObserver::observe after the batch amax: commits scale[c] from the history so far (as
// amax_history_scales with scale as the previous scale), then slides the window down one row
// and writes batch_amax into row 0. NaN and inf are recorded as seen (the CPU does not throw).
void amax_history_observe(const float* batch_amax, int64_t count, int64_t history_length,
                          bool most_recent, const quant::QuantSpec& spec, int margin,
                          float* amax_history, float* scale, int device);

}  // namespace octet::cuda
