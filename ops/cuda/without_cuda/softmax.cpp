// softmax.h without the backend (see no_backend.h).
#include "ops/cuda/softmax.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

void softmax_forward(const View&, const View&) { no_backend("softmax"); }
void softmax_backward(const View&, const View&, const View&) { no_backend("softmax_backward"); }
void log_softmax_forward(const View&, const View&) { no_backend("log_softmax"); }
void log_softmax_backward(const View&, const View&, const View&) {
  no_backend("log_softmax_backward");
}
int64_t cross_entropy_forward(const View&, const View&, int64_t, const View&, const View&) {
  no_backend("cross_entropy");
}
void cross_entropy_backward(const View&, const View&, int64_t, const View&, double, const View&) {
  no_backend("cross_entropy_backward");
}
void causal_softmax_forward(const View&, double, const View&) { no_backend("causal_softmax"); }
void causal_softmax_backward(const View&, const View&, double, const View&) {
  no_backend("causal_softmax_backward");
}

}  // namespace octet::cuda
