#include "ops/cuda/check.h"
#include "ops/cuda/copy.h"
#include "ops/cuda/elementwise_index.cuh"
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

// Strided copies walk a coalesced index (elementwise_index.cuh): a contiguous operand, or the
// transposed view of one, costs one or two div/mod per element instead of two per dimension.
// `contiguous`: both operands are dense in the same order, so element i sits at offset i in both
// and no index arithmetic runs at all. Types known at compile time (the common conversions,
// f32 <-> bf16 under autocast above all) let the compiler drop load_as_double's and
// store_double's switches; the values are the same either way.
template <DType S, DType D>
__global__ void convert_typed_kernel(const void* src, void* dst, int64_t n, StridedIndex<2> ix,
                                     bool contiguous) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[2] = {i, i};
    if (!contiguous) offsets_of(ix, i, off);
    store_double(dst, off[1], D, load_as_double(src, off[0], S));
  }
}

__global__ void convert_kernel(const void* src, DType st, void* dst, DType dt, int64_t n,
                               StridedIndex<2> ix) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[2];
    offsets_of(ix, i, off);
    store_double(dst, off[1], dt, load_as_double(src, off[0], st));
  }
}

template <typename Word>
__global__ void strided_move_kernel(const Word* src, Word* dst, int64_t n, StridedIndex<2> ix) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[2];
    offsets_of(ix, i, off);
    dst[off[1]] = src[off[0]];
  }
}

__global__ void fill_kernel(void* dst, DType dt, double value, int64_t n, StridedIndex<1> ix) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[1];
    offsets_of(ix, i, off);
    store_double(dst, off[0], dt, value);
  }
}

template <typename Word>
void launch_move(const View& src, const View& dst, const StridedIndex<2>& ix, cudaStream_t s) {
  const int64_t n = dst.numel();
  strided_move_kernel<Word><<<blocks_for(n), kThreads, 0, s>>>(static_cast<const Word*>(src.data),
                                                               static_cast<Word*>(dst.data), n, ix);
}

// Dense f32 <-> bf16, the casts of BF16 autocast, four elements per thread: 16-byte f32 and
// 8-byte bf16 accesses instead of 4 and 2 (the scalar kernel reached 1.1-1.2 TB/s on an H100 on
// attention-sized tensors). Element 0 of a group sits in the low half of each 32-bit word.
__global__ void f32_to_bf16x4_kernel(const float4* src, uint2* dst, int64_t groups) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < groups;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float4 v = src[i];
    dst[i] = make_uint2(f32_to_bf16_bits(v.x) | (uint32_t{f32_to_bf16_bits(v.y)} << 16),
                        f32_to_bf16_bits(v.z) | (uint32_t{f32_to_bf16_bits(v.w)} << 16));
  }
}

__global__ void bf16x4_to_f32_kernel(const uint2* src, float4* dst, int64_t groups) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < groups;
       i += int64_t(gridDim.x) * blockDim.x) {
    const uint2 v = src[i];
    dst[i] = make_float4(bf16_bits_to_f32(static_cast<uint16_t>(v.x & 0xffffu)),
                         bf16_bits_to_f32(static_cast<uint16_t>(v.x >> 16)),
                         bf16_bits_to_f32(static_cast<uint16_t>(v.y & 0xffffu)),
                         bf16_bits_to_f32(static_cast<uint16_t>(v.y >> 16)));
  }
}

// The vector kernels over the whole groups of four of a dense conversion whose pointers allow
// it; returns how many elements they covered (the rest take the scalar kernel).
int64_t convert_bf16_groups(const View& src, const View& dst, int64_t n, cudaStream_t s) {
  const int64_t groups = n / 4;
  if (groups == 0) return 0;
  if (src.dtype == DType::f32 && dst.dtype == DType::bf16 && is_aligned(src.data, 16) &&
      is_aligned(dst.data, 8)) {
    f32_to_bf16x4_kernel<<<blocks_for(groups), kThreads, 0, s>>>(
        static_cast<const float4*>(src.data), static_cast<uint2*>(dst.data), groups);
    return groups * 4;
  }
  if (src.dtype == DType::bf16 && dst.dtype == DType::f32 && is_aligned(src.data, 8) &&
      is_aligned(dst.data, 16)) {
    bf16x4_to_f32_kernel<<<blocks_for(groups), kThreads, 0, s>>>(
        static_cast<const uint2*>(src.data), static_cast<float4*>(dst.data), groups);
    return groups * 4;
  }
  return 0;
}

// Runs a conversion with compile-time types when the pair is one of the common ones; returns
// false for the rest, which take convert_kernel.
template <DType S, DType D>
bool try_typed(const View& src, const View& dst, const StridedIndex<2>& ix, bool contiguous,
               cudaStream_t s) {
  if (src.dtype != S || dst.dtype != D) return false;
  const int64_t n = dst.numel();
  convert_typed_kernel<S, D>
      <<<blocks_for(n), kThreads, 0, s>>>(src.data, dst.data, n, ix, contiguous);
  return true;
}

bool convert_typed(const View& src, const View& dst, const StridedIndex<2>& ix, bool contiguous,
                   cudaStream_t s) {
  return try_typed<DType::f32, DType::bf16>(src, dst, ix, contiguous, s) ||
         try_typed<DType::bf16, DType::f32>(src, dst, ix, contiguous, s) ||
         try_typed<DType::f32, DType::f64>(src, dst, ix, contiguous, s) ||
         try_typed<DType::f64, DType::f32>(src, dst, ix, contiguous, s) ||
         try_typed<DType::f32, DType::f16>(src, dst, ix, contiguous, s) ||
         try_typed<DType::f16, DType::f32>(src, dst, ix, contiguous, s);
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
  const StridedIndex<2> ix = make_coalesced_index<2>("copy", dst.shape, strides);
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
    // Dense in the same order: one dimension left with unit strides (or none, for one element).
    const bool contiguous =
        ix.rank == 0 || (ix.rank == 1 && ix.stride[0][0] == 1 && ix.stride[1][0] == 1);
    const int64_t done = contiguous ? convert_bf16_groups(src, dst, n, s) : 0;
    if (done > 0) {
      if (done < n) {  // the last n % 4 elements, dense after the groups (ix unused when dense)
        const View src_tail{static_cast<char*>(src.data) + done * dtype_size(src.dtype),
                            src.dtype,
                            src.device,
                            {n - done},
                            {1}};
        const View dst_tail{static_cast<char*>(dst.data) + done * dtype_size(dst.dtype),
                            dst.dtype,
                            dst.device,
                            {n - done},
                            {1}};
        convert_typed(src_tail, dst_tail, ix, true, s);
      }
    } else if (!convert_typed(src, dst, ix, contiguous, s)) {
      convert_kernel<<<blocks_for(n), kThreads, 0, s>>>(src.data, src.dtype, dst.data, dst.dtype, n,
                                                        ix);
    }
  }
  OCTET_CUDA_CHECK_LAUNCH();
}

void fill(const View& dst, double value) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  cudaStream_t s = stream_on(dst.device.index);
  const Shape* strides[1] = {&dst.strides};
  fill_kernel<<<blocks_for(n), kThreads, 0, s>>>(
      dst.data, dst.dtype, value, n, make_coalesced_index<1>("fill", dst.shape, strides));
  OCTET_CUDA_CHECK_LAUNCH();
}

}  // namespace octet::cuda
