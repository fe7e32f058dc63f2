// gather.h without the backend (see no_backend.h).
#include "ops/cuda/gather.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

void gather(const View&, int64_t, const View&, const View&) { no_backend("gather"); }
void scatter_add(const View&, int64_t, const View&, const View&) { no_backend("scatter_add"); }

}  // namespace octet::cuda
