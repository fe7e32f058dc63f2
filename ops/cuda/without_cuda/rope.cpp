// rope.h without the backend (see no_backend.h).
#include "ops/cuda/rope.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

void rope(const View&, double, int64_t, bool, const View&) { no_backend("rope"); }

}  // namespace octet::cuda
