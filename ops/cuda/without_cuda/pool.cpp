// pool.h without the backend (see no_backend.h).
#include "ops/cuda/pool.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

void max_pool2d_forward(const View&, int64_t, int64_t, const View&, const View&) {
  no_backend("max_pool2d");
}
void max_pool2d_backward(const View&, const View&, const View&) { no_backend("max_pool2d"); }

}  // namespace octet::cuda
