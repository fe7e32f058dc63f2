#include "ops/cuda/check.h"
#include "ops/cuda/dropout.h"
#include "ops/cuda/indexing.cuh"
#include "ops/cuda/launch_checks.h"

namespace octet::cuda {
namespace {

template <typename T>
__global__ void dropout_kernel(const T* x, const uint8_t* keep, T scale, T* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = x[i] * (static_cast<T>(keep[i]) * scale);
}

}  // namespace

void dropout_apply(const View& x, const View& keep, double scale, const View& out) {
  OCTET_CHECK(keep.dtype == DType::u8 && keep.numel() == x.numel() && out.numel() == x.numel(),
              "dropout", "mask ", dtype_name(keep.dtype), shape_str(keep.shape), " and output ",
              shape_str(out.shape), " must match input ", shape_str(x.shape));
  OCTET_CHECK(x.is_contiguous() && keep.is_contiguous() && out.is_contiguous(), "dropout",
              "needs contiguous operands");
  check_same_dtype("dropout", x, out);
  const int device = device_of("dropout", {&x, &keep, &out});
  const int64_t n = x.numel();
  dispatch_float(x.dtype, "dropout", [&](auto t) {
    using T = decltype(t);
    if (n == 0) return;
    dropout_kernel<T><<<blocks_for(n), kThreads, 0, stream_on(device)>>>(
        x.ptr<const T>(), keep.ptr<const uint8_t>(), static_cast<T>(scale), out.ptr<T>(), n);
    OCTET_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace octet::cuda
