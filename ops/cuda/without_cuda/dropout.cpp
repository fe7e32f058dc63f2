// dropout.h without the backend (see no_backend.h).
#include "ops/cuda/dropout.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

void dropout_apply(const View&, const View&, double, const View&) { no_backend("dropout"); }

}  // namespace octet::cuda
