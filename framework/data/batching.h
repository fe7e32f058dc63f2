#pragma once
// Epoch ordering for map-style datasets. Kept apart from any dataset so image and text loaders
// (and a rank-aware sampler in distributed/) share one definition of "an epoch's permutation".
#include <cstdint>
#include <vector>

#include "framework/random.h"

namespace octet {

// A uniformly random permutation of [0, n) by Fisher-Yates, drawing gen.below(i + 1) for
// i = n-1 down to 1. The result depends only on n and the generator's state, so a run resumed
// from a checkpointed generator replays the same epoch order.
std::vector<int64_t> shuffled_indices(int64_t n, Generator& gen);

}  // namespace octet
