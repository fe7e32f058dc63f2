// embedding.h without the backend (see no_backend.h).
#include "ops/cuda/embedding.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

void embedding_forward(const View&, const View&, const View&) { no_backend("embedding"); }
void embedding_backward(const View&, const View&, const View&) { no_backend("embedding_backward"); }

}  // namespace octet::cuda
