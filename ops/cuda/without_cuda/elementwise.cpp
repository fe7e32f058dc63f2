// elementwise.h without the backend (see no_backend.h).
#include "ops/cuda/elementwise.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

void binary(BinaryOp, const View&, const View&, const View&) { no_backend("binary"); }
void binary_scalar(BinaryOp, const View&, double, const View&, bool) {
  no_backend("binary_scalar");
}
void axpby(const View&, double, const View&, double, const View&) { no_backend("axpby"); }
void unary(UnaryOp, const View&, const View&) { no_backend("unary"); }
void unary_backward(UnaryOp, const View&, const View&, const View&, const View&) {
  no_backend("unary_backward");
}
void pow_scalar(const View&, double, const View&) { no_backend("pow"); }

}  // namespace octet::cuda
