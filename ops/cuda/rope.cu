#include "ops/cuda/check.h"
#include "ops/cuda/indexing.cuh"
#include "ops/cuda/launch_checks.h"
#include "ops/cuda/rope.h"

namespace octet::cuda {
namespace {

// table[t * D + i] = cos((offset + t) * base^(-2i/D)), table[t * D + D/2 + i] = its sin: the CPU's
// table layout, built once per call so the rotation kernel reads two values per pair.
template <typename T>
__global__ void table_kernel(T* table, int64_t positions, int64_t dim, double base,
                             int64_t offset) {
  const int64_t half = dim / 2;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < positions * half;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = e / half, i = e - t * half;
    const double inv_freq = pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(dim));
    const double angle = static_cast<double>(offset + t) * inv_freq;
    double s, c;
    sincos(angle, &s, &c);
    table[t * dim + i] = static_cast<T>(c);
    table[t * dim + half + i] = static_cast<T>(s);
  }
}

struct Strides4 {
  int64_t b, h, t;
};

// One thread per rotated pair (i, i + D/2) of one row; reads both before writing, so out may
// alias x.
template <typename T>
__global__ void rotate_kernel(const T* x, Strides4 xs, T* y, Strides4 ys, const T* table,
                              int64_t heads, int64_t positions, int64_t dim, int64_t pairs,
                              T sign) {
  const int64_t half = dim / 2;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < pairs;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = e / half, i = e - r * half;
    const int64_t t = r % positions, bh = r / positions;
    const int64_t h = bh % heads, b = bh / heads;
    const T* xr = x + b * xs.b + h * xs.h + t * xs.t;
    T* yr = y + b * ys.b + h * ys.h + t * ys.t;
    const T c = table[t * dim + i];
    const T s = sign * table[t * dim + half + i];
    const T lo = xr[i], hi = xr[i + half];
    yr[i] = lo * c - hi * s;
    yr[i + half] = lo * s + hi * c;
  }
}

}  // namespace

void rope(const View& x, double base, int64_t offset, bool inverse, const View& out) {
  OCTET_CHECK(x.dim() == 4 && x.shape[3] % 2 == 0, "rope", "expects [B, H, T, D] with D even, got ",
              shape_str(x.shape));
  OCTET_CHECK(out.shape == x.shape, "rope", "output ", shape_str(out.shape), " differs from input ",
              shape_str(x.shape));
  OCTET_CHECK((x.strides[3] == 1 || x.shape[3] <= 1) && (out.strides[3] == 1 || out.shape[3] <= 1),
              "rope", "the last dimension needs a unit stride");
  OCTET_CHECK(offset >= 0, "rope", "position offset must be >= 0, got ", offset);
  OCTET_CHECK(base > 0, "rope", "base must be > 0, got ", base);
  check_same_dtype("rope", x, out);
  const int device = device_of("rope", {&x, &out});
  if (x.numel() == 0) return;
  const int64_t heads = x.shape[1], positions = x.shape[2], dim = x.shape[3];
  const int64_t pairs = x.shape[0] * heads * positions * (dim / 2);
  cudaStream_t s = stream_on(device);
  dispatch_float(x.dtype, "rope", [&](auto tag) {
    using T = decltype(tag);
    T* table = static_cast<T*>(allocate(positions * dim * sizeof(T), device));
    table_kernel<T><<<blocks_for(positions * (dim / 2)), kThreads, 0, s>>>(table, positions, dim,
                                                                           base, offset);
    OCTET_CUDA_CHECK_LAUNCH();
    rotate_kernel<T><<<blocks_for(pairs), kThreads, 0, s>>>(
        x.ptr<const T>(), Strides4{x.strides[0], x.strides[1], x.strides[2]}, out.ptr<T>(),
        Strides4{out.strides[0], out.strides[1], out.strides[2]}, table, heads, positions, dim,
        pairs, inverse ? T(-1) : T(1));
    OCTET_CUDA_CHECK_LAUNCH();
    // Stream-ordered reuse: the block goes to later work on this stream only.
    release(table, device);
  });
}

}  // namespace octet::cuda
