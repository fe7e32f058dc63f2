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

// The rank-aware sampler's rule: of a global batch, rows [begin, end) of the epoch's order,
// rank `rank` of `world` takes a contiguous share, sizes differing by at most one (the first
// (end - begin) % world ranks take one more). Every rank draws the same epoch order from the same
// seed, so the shares are disjoint, cover the global batch, and depend only on seed, epoch, step,
// rank and world size: 2 ranks x b rows see exactly the rows of 1 rank x 2b.
struct RankShare {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
RankShare rank_share(int64_t begin, int64_t end, int rank, int world);

}  // namespace octet
