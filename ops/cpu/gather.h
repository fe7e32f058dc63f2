#pragma once
// torch.gather semantics along one dimension, and its adjoint scatter-add.
#include "ops/view.h"

namespace octet::cpu {

// out[..., i_dim, ...] = src[..., index[..., i_dim, ...], ...]; index is i64 and has out's shape.
void gather(const View& src, int64_t dim, const View& index, const View& out);
// dst[..., index[...], ...] += src[...]; the adjoint of gather (dst is accumulated into).
void scatter_add(const View& src, int64_t dim, const View& index, const View& dst);

}  // namespace octet::cpu
