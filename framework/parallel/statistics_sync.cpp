#include "framework/parallel/statistics_sync.h"

#include <cstring>

namespace octet::parallel {
namespace {

// Per thread: observers run on the thread that runs forward.
thread_local Communicator* g_sync = nullptr;

void sync(float* values, int64_t n, ReduceOp op) {
  if (!g_sync || g_sync->size() == 1 || n == 0) return;
  Tensor t = Tensor::empty({n}, DType::f32);
  std::memcpy(t.data<float>(), values, static_cast<size_t>(n) * sizeof(float));
  g_sync->allreduce(t, op);
  std::memcpy(values, t.data<float>(), static_cast<size_t>(n) * sizeof(float));
}

}  // namespace

StatisticsSyncScope::StatisticsSyncScope(Communicator& communicator) : previous_(g_sync) {
  g_sync = &communicator;
}

StatisticsSyncScope::~StatisticsSyncScope() { g_sync = previous_; }

LocalStatisticsScope::LocalStatisticsScope() : previous_(g_sync) { g_sync = nullptr; }

LocalStatisticsScope::~LocalStatisticsScope() { g_sync = previous_; }

void sync_statistics_max(float* values, int64_t n) { sync(values, n, ReduceOp::kMax); }
void sync_statistics_sum(float* values, int64_t n) { sync(values, n, ReduceOp::kSum); }
bool statistics_sync_active() { return g_sync != nullptr && g_sync->size() > 1; }

}  // namespace octet::parallel
