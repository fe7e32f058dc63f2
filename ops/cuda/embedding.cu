#include "ops/cuda/check.h"
#include "ops/cuda/embedding.h"
#include "ops/cuda/index_check.cuh"
#include "ops/cuda/indexing.cuh"
#include "ops/cuda/launch_checks.h"
#include "ops/embedding_checks.h"

namespace octet::cuda {
namespace {

// One thread per output element, moving the element as a raw word of the dtype's size.
template <typename Word>
__global__ void gather_rows_kernel(const int64_t* idx, const Word* weight, Word* out, int64_t total,
                                   int64_t dim) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = e / dim, i = e - n * dim;
    out[e] = weight[idx[n] * dim + i];
  }
}

template <typename T>
__global__ void scatter_rows_kernel(const T* g, const int64_t* idx, T* gw, int64_t total,
                                    int64_t dim) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = e / dim, i = e - n * dim;
    atomicAdd(gw + idx[n] * dim + i, g[e]);
  }
}

// The shared layout check, with every index validated on the device before anything is written.
EmbeddingTable check(const char* op, const View& indices, const View& weight,
                     const View& rows_view) {
  const EmbeddingTable t = check_embedding_layout(op, indices, weight, rows_view);
  const int device = device_of(op, {&indices, &weight, &rows_view});
  const int64_t* idx = indices.ptr<const int64_t>();
  IndexReport report(device);
  scan_indices(idx, indices.numel(), t.rows, false, 0, report, device);
  const int64_t bad = report.read().first_bad;
  if (bad >= 0) throw_embedding_index(op, read_index(idx + bad, device), bad, weight);
  return t;
}

template <typename Word>
void launch_gather(const View& indices, const View& weight, const View& out, int64_t total,
                   int64_t dim, cudaStream_t s) {
  gather_rows_kernel<Word><<<blocks_for(total), kThreads, 0, s>>>(
      indices.ptr<const int64_t>(), weight.ptr<const Word>(), out.ptr<Word>(), total, dim);
}

}  // namespace

void embedding_forward(const View& indices, const View& weight, const View& out) {
  const EmbeddingTable t = check("embedding", indices, weight, out);
  const int64_t total = indices.numel() * t.dim;
  if (total == 0) return;
  cudaStream_t s = stream_on(weight.device.index);
  switch (dtype_size(weight.dtype)) {
    case 1:
      launch_gather<uint8_t>(indices, weight, out, total, t.dim, s);
      break;
    case 2:
      launch_gather<uint16_t>(indices, weight, out, total, t.dim, s);
      break;
    case 4:
      launch_gather<uint32_t>(indices, weight, out, total, t.dim, s);
      break;
    default:
      launch_gather<uint64_t>(indices, weight, out, total, t.dim, s);
      break;
  }
  OCTET_CUDA_CHECK_LAUNCH();
}

void embedding_backward(const View& grad_out, const View& indices, const View& grad_weight) {
  const EmbeddingTable t = check("embedding_backward", indices, grad_weight, grad_out);
  dispatch_float(grad_weight.dtype, "embedding_backward", [&](auto tag) {
    using T = decltype(tag);
    cudaStream_t s = stream_on(grad_weight.device.index);
    OCTET_CUDA_CHECK(cudaMemsetAsync(grad_weight.data, 0, t.rows * t.dim * sizeof(T), s));
    const int64_t total = indices.numel() * t.dim;
    if (total == 0) return;
    scatter_rows_kernel<T><<<blocks_for(total), kThreads, 0, s>>>(
        grad_out.ptr<const T>(), indices.ptr<const int64_t>(), grad_weight.ptr<T>(), total, t.dim);
    OCTET_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace octet::cuda
