#include "ops/cuda/check.h"
#include "ops/cuda/copy.h"
#include "ops/cuda/indexing.cuh"

namespace octet::cuda {
namespace {

// Elements move through double, which holds every value of every octet dtype but i64 beyond
// 2^53; same-dtype copies (the common case: contiguous(), clone()) move raw bytes instead.
__device__ double load_as_double(const void* base, int64_t off, DType t) {
  switch (t) {
    case DType::f64:
      return static_cast<const double*>(base)[off];
    case DType::f32:
      return static_cast<const float*>(base)[off];
    case DType::bf16:
      return bf16_bits_to_f32(static_cast<const uint16_t*>(base)[off]);
    case DType::f16:
      return __half2float(static_cast<const __half*>(base)[off]);
    case DType::i64:
      return static_cast<double>(static_cast<const int64_t*>(base)[off]);
    case DType::i32:
      return static_cast<const int32_t*>(base)[off];
    case DType::i8:
      return static_cast<const int8_t*>(base)[off];
    default:
      return static_cast<const uint8_t*>(base)[off];
  }
}

__device__ void store_double(void* base, int64_t off, DType t, double v) {
  switch (t) {
    case DType::f64:
      static_cast<double*>(base)[off] = v;
      return;
    case DType::f32:
      static_cast<float*>(base)[off] = static_cast<float>(v);
      return;
    case DType::bf16:
      static_cast<uint16_t*>(base)[off] = f32_to_bf16_bits(static_cast<float>(v));
      return;
    case DType::f16:
      static_cast<__half*>(base)[off] = __float2half_rn(static_cast<float>(v));
      return;
    case DType::i64:
      static_cast<int64_t*>(base)[off] = static_cast<int64_t>(v);
      return;
    case DType::i32:
      static_cast<int32_t*>(base)[off] = static_cast<int32_t>(v);
      return;
    case DType::i8:
      static_cast<int8_t*>(base)[off] = static_cast<int8_t>(v);
      return;
    default:
      static_cast<uint8_t*>(base)[off] = static_cast<uint8_t>(v);
      return;
  }
}

__global__ void convert_kernel(const void* src, DType st, void* dst, DType dt, int64_t n,
                               StridedIndex<2> ix) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    store_double(dst, ix.offset(i, 1), dt, load_as_double(src, ix.offset(i, 0), st));
}

template <typename Word>
__global__ void strided_move_kernel(const Word* src, Word* dst, int64_t n, StridedIndex<2> ix) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[ix.offset(i, 1)] = src[ix.offset(i, 0)];
}

__global__ void fill_kernel(void* dst, DType dt, double value, int64_t n, StridedIndex<1> ix) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    store_double(dst, ix.offset(i, 0), dt, value);
}

template <typename Word>
void launch_move(const View& src, const View& dst, const StridedIndex<2>& ix, cudaStream_t s) {
  const int64_t n = dst.numel();
  strided_move_kernel<Word><<<blocks_for(n), kThreads, 0, s>>>(static_cast<const Word*>(src.data),
                                                               static_cast<Word*>(dst.data), n, ix);
}

}  // namespace

void copy(const View& src, const View& dst) {
  OCTET_CHECK(src.shape == dst.shape, "copy", "shapes differ: ", shape_str(src.shape), " vs ",
              shape_str(dst.shape));
  OCTET_CHECK(src.device == dst.device, "copy", "views on ", src.device.str(), " and ",
              dst.device.str(), "; cross-device copies go through copy_bytes");
  const int64_t n = dst.numel();
  if (n == 0) return;
  cudaStream_t s = stream_on(dst.device.index);
  if (src.dtype == dst.dtype && src.is_contiguous() && dst.is_contiguous()) {
    OCTET_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, n * dtype_size(dst.dtype),
                                     cudaMemcpyDeviceToDevice, s));
    return;
  }
  const Shape* strides[2] = {&src.strides, &dst.strides};
  const StridedIndex<2> ix = make_index<2>("copy", dst.shape, strides);
  if (src.dtype == dst.dtype) {
    switch (dtype_size(dst.dtype)) {
      case 1:
        launch_move<uint8_t>(src, dst, ix, s);
        break;
      case 2:
        launch_move<uint16_t>(src, dst, ix, s);
        break;
      case 4:
        launch_move<uint32_t>(src, dst, ix, s);
        break;
      default:
        launch_move<uint64_t>(src, dst, ix, s);
        break;
    }
  } else {
    convert_kernel<<<blocks_for(n), kThreads, 0, s>>>(src.data, src.dtype, dst.data, dst.dtype, n,
                                                      ix);
  }
  OCTET_CUDA_CHECK_LAUNCH();
}

void fill(const View& dst, double value) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  cudaStream_t s = stream_on(dst.device.index);
  const Shape* strides[1] = {&dst.strides};
  fill_kernel<<<blocks_for(n), kThreads, 0, s>>>(dst.data, dst.dtype, value, n,
                                                 make_index<1>("fill", dst.shape, strides));
  OCTET_CUDA_CHECK_LAUNCH();
}

}  // namespace octet::cuda
