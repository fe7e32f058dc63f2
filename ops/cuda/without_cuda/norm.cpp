// norm.h without the backend (see no_backend.h).
#include "ops/cuda/norm.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

void layer_norm_forward(const View&, const View&, const View*, double, const View&, const View&,
                        const View&) {
  no_backend("layer_norm");
}
void layer_norm_backward(const View&, const View&, const View&, const View&, const View&,
                         const View*, const View*, const View*) {
  no_backend("layer_norm_backward");
}
void rms_norm_forward(const View&, const View&, double, const View&, const View&) {
  no_backend("rms_norm");
}
void rms_norm_backward(const View&, const View&, const View&, const View&, const View*,
                       const View*) {
  no_backend("rms_norm_backward");
}

}  // namespace octet::cuda
