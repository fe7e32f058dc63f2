#include "framework/data/batching.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "ops/error.h"

namespace octet {

std::vector<int64_t> shuffled_indices(int64_t n, Generator& gen) {
  OCTET_CHECK(n >= 0, "shuffled_indices", "n must be >= 0, got ", n);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(gen.below(static_cast<uint64_t>(i) + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

RankShare rank_share(int64_t begin, int64_t end, int rank, int world) {
  OCTET_CHECK(world >= 1 && rank >= 0 && rank < world, "rank_share", "rank ", rank,
              " outside a world of ", world);
  OCTET_CHECK(end >= begin, "rank_share", "empty range [", begin, ", ", end, ")");
  const int64_t n = end - begin, base = n / world, extra = n % world;
  const int64_t first = begin + rank * base + std::min<int64_t>(rank, extra);
  return {first, first + base + (rank < extra ? 1 : 0)};
}

}  // namespace octet
