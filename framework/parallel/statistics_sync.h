#pragma once
// Statistics that a forward pass computes from its batch (observer min/max, FP8 amax, current
// scaling's ranges, LSQ's first scale) must agree across ranks: ranks that disagree on a scale
// train a model no single export can represent. Under data parallelism each rank sees a shard of
// the global batch, so such statistics are reduced across ranks before they are used or folded
// into a running state. Reduced that way, every rank holds bitwise-identical scales, and they are
// the scales one process would compute on the whole global batch.
//
// The reduction happens only inside a StatisticsSyncScope, which a data-parallel training step
// opens around its forward (and a distributed calibration around its batches). Elsewhere
// (evaluation, work that only rank 0 does) statistics stay local, so a rank running alone never
// waits for a collective the others will not join.
#include <cstdint>

#include "framework/parallel/communicator.h"

namespace octet::parallel {

class StatisticsSyncScope {
 public:
  explicit StatisticsSyncScope(Communicator& communicator);
  ~StatisticsSyncScope();
  StatisticsSyncScope(const StatisticsSyncScope&) = delete;
  StatisticsSyncScope& operator=(const StatisticsSyncScope&) = delete;

 private:
  Communicator* previous_;
};

// Statistics of tensors every rank holds bit for bit (the weights: broadcast at the start, then
// updated by the same averaged gradients) need no reduction; within this scope they stay local,
// which saves the ranks a collective (and a wait for each other) per weight quantizer and step.
class LocalStatisticsScope {
 public:
  LocalStatisticsScope();
  ~LocalStatisticsScope();
  LocalStatisticsScope(const LocalStatisticsScope&) = delete;
  LocalStatisticsScope& operator=(const LocalStatisticsScope&) = delete;

 private:
  Communicator* previous_;
};

// Replaces values[0, n) with their maximum over the ranks of the open scope; a no-op outside a
// scope or in a world of one. Minimums are synchronised as maximums of their negations.
void sync_statistics_max(float* values, int64_t n);
// The same with a sum (histogram counts).
void sync_statistics_sum(float* values, int64_t n);
bool statistics_sync_active();

}  // namespace octet::parallel
