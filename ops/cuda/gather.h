#pragma once
// The CUDA twins of ops/cpu/gather.h (torch.gather along one dimension and its adjoint), same
// arguments and checks; any strides, rank <= 8.
#include <cstdint>

#include "ops/view.h"

namespace octet::cuda {

// Throws [gather] naming an index outside the gathered dimension (read back after the kernel,
// which waits for the stream); the elements with valid indices are written regardless.
void gather(const View& src, int64_t dim, const View& index, const View& out);
// dst[..., index[...], ...] += src[...] with atomicAdd: where several elements land on one
// destination their order, and so the last bits of the sum, can change from run to run.
void scatter_add(const View& src, int64_t dim, const View& index, const View& dst);

}  // namespace octet::cuda
