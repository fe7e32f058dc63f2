// conv.h without the backend (see no_backend.h).
#include "ops/cuda/conv.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

cpu::Conv2dGeometry conv2d_geometry(const View&, const View&, int64_t, int64_t) {
  no_backend("conv2d");
}
void im2col(const View&, const cpu::Conv2dGeometry&, const View&) { no_backend("im2col"); }
void col2im(const View&, const cpu::Conv2dGeometry&, const View&) { no_backend("col2im"); }
void conv2d_forward(const View&, const View&, const View*, const View&, int64_t, int64_t) {
  no_backend("conv2d");
}
void conv2d_backward(const View&, const View&, const View&, int64_t, int64_t, const View*,
                     const View*, const View*) {
  no_backend("conv2d_backward");
}

}  // namespace octet::cuda
