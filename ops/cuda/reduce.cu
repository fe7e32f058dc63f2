#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "ops/cpu/dispatch.h"
#include "ops/cuda/check.h"
#include "ops/cuda/elementwise_index.cuh"
#include "ops/cuda/indexing.cuh"
#include "ops/cuda/reduce.h"

namespace octet::cuda {
namespace {

constexpr unsigned kFullMask = 0xffffffffu;
// Reductions this short run serially, one thread per output; up to kWarpMax, one warp per
// output; longer ones one block (kThreads) per output, split into chunks when there are too few
// outputs to fill the device.
constexpr int64_t kSerialMax = 32;
constexpr int64_t kWarpMax = 1024;
constexpr int64_t kTargetBlocks = 1024;  // enough blocks in flight for any current GPU
constexpr int64_t kMinChunk = 4096;      // elements per block, at least (16 per thread)
// Column path (kept elements adjacent in memory, reduced dims outer, as a bias gradient's
// [rows, C] -> [1, C]): one thread per (output, chunk of at most kColumnChunk rows), so a warp
// reads 32 adjacent elements at a time; kColumnThreads items fill the device.
constexpr int64_t kColumnChunk = 256;
constexpr int64_t kColumnThreads = 1 << 18;

// +infinity in device code (std::numeric_limits is host-only without relaxed constexpr).
template <typename T>
__device__ T infinity() {
  if constexpr (std::is_same_v<T, double>)
    return __longlong_as_double(0x7ff0000000000000LL);
  else
    return __int_as_float(0x7f800000);
}

// The CPU's Reducer with Acc = float for f32 and double for f64. NaN propagates through
// max/min/amax (v != v is isnan without the overload questions).
template <ReduceOp OP, typename Acc>
struct Reducer {
  __device__ static Acc init() {
    if constexpr (OP == ReduceOp::max) return -infinity<Acc>();
    if constexpr (OP == ReduceOp::min) return infinity<Acc>();
    return Acc(0);  // sum, amax
  }
  // Folds one input element into the accumulator.
  __device__ static Acc step(Acc acc, Acc v) {
    if constexpr (OP == ReduceOp::sum) return acc + v;
    if constexpr (OP == ReduceOp::max) return (v > acc || v != v) ? v : acc;
    if constexpr (OP == ReduceOp::min) return (v < acc || v != v) ? v : acc;
    if constexpr (OP == ReduceOp::amax) {
      const Acc a = v < Acc(0) ? -v : v;
      return (a > acc || a != a) ? a : acc;
    }
  }
  // Merges two accumulators (partial results are already |x| for amax).
  __device__ static Acc combine(Acc a, Acc b) {
    if constexpr (OP == ReduceOp::sum) return a + b;
    if constexpr (OP == ReduceOp::min) return (b < a || b != b) ? b : a;
    return (b > a || b != b) ? b : a;  // max, amax
  }
};

template <ReduceOp OP, typename Acc>
__device__ Acc warp_combine(Acc v) {
  for (int offset = 16; offset > 0; offset /= 2)
    v = Reducer<OP, Acc>::combine(v, __shfl_down_sync(kFullMask, v, offset));
  return v;  // lane 0 holds the warp's result
}

// Every thread of the block must call this; thread 0 gets the block's result.
template <ReduceOp OP, typename Acc>
__device__ Acc block_combine(Acc v) {
  __shared__ Acc warp_result[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = warp_combine<OP>(v);
  if (lane == 0) warp_result[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < int(blockDim.x / 32) ? warp_result[lane] : Reducer<OP, Acc>::init();
    v = warp_combine<OP>(v);
  }
  __syncthreads();  // warp_result is reused by the block's next output
  return v;
}

// Output o reads in[kept.offset(o, 0) + red.offset(r, 0)] for r < n_red and writes
// out[kept.offset(o, 1)].
template <ReduceOp OP, typename T, typename Acc>
__global__ void reduce_serial_kernel(const T* in, T* out, int64_t n_out, int64_t n_red,
                                     StridedIndex<2> kept, StridedIndex<1> red) {
  using R = Reducer<OP, Acc>;
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < n_out;
       o += int64_t(gridDim.x) * blockDim.x) {
    const T* base = in + kept.offset(o, 0);
    Acc acc = R::init();
    for (int64_t r = 0; r < n_red; ++r) acc = R::step(acc, Acc(base[red.offset(r, 0)]));
    out[kept.offset(o, 1)] = T(acc);
  }
}

template <ReduceOp OP, typename T, typename Acc>
__global__ void reduce_warp_kernel(const T* in, T* out, int64_t n_out, int64_t n_red,
                                   StridedIndex<2> kept, StridedIndex<1> red) {
  using R = Reducer<OP, Acc>;
  const int lane = threadIdx.x % 32;
  const int64_t warps_per_block = blockDim.x / 32;
  // The loop bound is the same for the whole warp, so every lane reaches the shuffles.
  for (int64_t o = blockIdx.x * warps_per_block + threadIdx.x / 32; o < n_out;
       o += int64_t(gridDim.x) * warps_per_block) {
    const T* base = in + kept.offset(o, 0);
    Acc acc = R::init();
    for (int64_t r = lane; r < n_red; r += 32) acc = R::step(acc, Acc(base[red.offset(r, 0)]));
    acc = warp_combine<OP>(acc);
    if (lane == 0) out[kept.offset(o, 1)] = T(acc);
  }
}

// Item = (output o, chunk c) covers r in [c * chunk_len, (c + 1) * chunk_len). With one chunk
// the block writes the output; otherwise the accumulator goes to partial[o * chunks + c].
template <ReduceOp OP, typename T, typename Acc>
__global__ void reduce_block_kernel(const T* in, T* out, Acc* partial, int64_t n_out, int64_t n_red,
                                    int64_t chunks, int64_t chunk_len, StridedIndex<2> kept,
                                    StridedIndex<1> red) {
  using R = Reducer<OP, Acc>;
  for (int64_t item = blockIdx.x; item < n_out * chunks; item += gridDim.x) {
    const int64_t o = item / chunks, c = item % chunks;
    const int64_t r1 = (c + 1) * chunk_len < n_red ? (c + 1) * chunk_len : n_red;
    const T* base = in + kept.offset(o, 0);
    Acc acc = R::init();
    for (int64_t r = c * chunk_len + threadIdx.x; r < r1; r += blockDim.x)
      acc = R::step(acc, Acc(base[red.offset(r, 0)]));
    acc = block_combine<OP>(acc);
    if (threadIdx.x == 0) {
      if (partial)
        partial[item] = acc;
      else
        out[kept.offset(o, 1)] = T(acc);
    }
  }
}

// Item = (chunk c, output o), o fastest so neighbouring threads read neighbouring elements; each
// thread folds its chunk serially. Partials as reduce_block_kernel's: partial[o * chunks + c].
template <ReduceOp OP, typename T, typename Acc>
__global__ void reduce_columns_kernel(const T* in, T* out, Acc* partial, int64_t n_out,
                                      int64_t n_red, int64_t chunks, int64_t chunk_len,
                                      StridedIndex<2> kept, StridedIndex<1> red) {
  using R = Reducer<OP, Acc>;
  for (int64_t item = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; item < n_out * chunks;
       item += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = item / n_out, o = item % n_out;
    const int64_t r1 = (c + 1) * chunk_len < n_red ? (c + 1) * chunk_len : n_red;
    const T* base = in + kept.offset(o, 0);
    Acc acc = R::init();
    for (int64_t r = c * chunk_len; r < r1; ++r) acc = R::step(acc, Acc(base[red.offset(r, 0)]));
    if (partial)
      partial[o * chunks + c] = acc;
    else
      out[kept.offset(o, 1)] = T(acc);
  }
}

// Merges each output's chunks in chunk order.
template <ReduceOp OP, typename T, typename Acc>
__global__ void reduce_finish_kernel(const Acc* partial, T* out, int64_t n_out, int64_t chunks,
                                     StridedIndex<2> kept) {
  using R = Reducer<OP, Acc>;
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < n_out;
       o += int64_t(gridDim.x) * blockDim.x) {
    Acc acc = partial[o * chunks];
    for (int64_t c = 1; c < chunks; ++c) acc = R::combine(acc, partial[o * chunks + c]);
    out[kept.offset(o, 1)] = T(acc);
  }
}

template <ReduceOp OP, typename T>
void reduce_typed(const View& in, const View& out, int dev) {
  using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
  Shape kept_size, kept_in, kept_out, red_size, red_in;
  for (int64_t d = 0; d < in.dim(); ++d) {
    if (out.shape[d] == 1 && in.shape[d] != 1) {
      red_size.push_back(in.shape[d]);
      red_in.push_back(in.strides[d]);
    } else {
      kept_size.push_back(in.shape[d]);
      kept_in.push_back(in.strides[d]);
      kept_out.push_back(out.strides[d]);
    }
  }
  const int64_t n_out = out.numel();
  const int64_t n_red = numel_of(red_size);
  if (n_out == 0) return;
  const Shape* ks[2] = {&kept_in, &kept_out};
  const Shape* rs[1] = {&red_in};
  const StridedIndex<2> kept = make_coalesced_index<2>("reduce", kept_size, ks);
  const StridedIndex<1> red = make_coalesced_index<1>("reduce", red_size, rs);
  const T* src = in.ptr<const T>();
  T* dst = out.ptr<T>();
  cudaStream_t s = stream_on(dev);

  if (n_red <= kSerialMax) {
    reduce_serial_kernel<OP, T, Acc>
        <<<blocks_for(n_out), kThreads, 0, s>>>(src, dst, n_out, n_red, kept, red);
    OCTET_CUDA_CHECK_LAUNCH();
    return;
  }
  if (kept.rank > 0 && kept.stride[0][kept.rank - 1] == 1 && n_out >= 32) {
    // Chunks depend on the shape only, so the summation order (and the result) is reproducible.
    const int64_t want = (kColumnThreads + n_out - 1) / n_out;
    const int64_t chunks = std::max<int64_t>(std::min(want, (n_red + 63) / 64),
                                             (n_red + kColumnChunk - 1) / kColumnChunk);
    const int64_t chunk_len = (n_red + chunks - 1) / chunks;
    const unsigned grid = blocks_for(n_out * chunks);
    if (chunks == 1) {
      reduce_columns_kernel<OP, T, Acc>
          <<<grid, kThreads, 0, s>>>(src, dst, nullptr, n_out, n_red, 1, chunk_len, kept, red);
      OCTET_CUDA_CHECK_LAUNCH();
      return;
    }
    DeviceBuffer partial(static_cast<size_t>(n_out * chunks) * sizeof(Acc), dev);
    Acc* part = partial.as<Acc>();
    reduce_columns_kernel<OP, T, Acc>
        <<<grid, kThreads, 0, s>>>(src, dst, part, n_out, n_red, chunks, chunk_len, kept, red);
    OCTET_CUDA_CHECK_LAUNCH();
    reduce_finish_kernel<OP, T, Acc>
        <<<blocks_for(n_out), kThreads, 0, s>>>(part, dst, n_out, chunks, kept);
    OCTET_CUDA_CHECK_LAUNCH();
    return;
  }
  if (n_red <= kWarpMax) {
    reduce_warp_kernel<OP, T, Acc>
        <<<blocks_for(n_out * 32), kThreads, 0, s>>>(src, dst, n_out, n_red, kept, red);
    OCTET_CUDA_CHECK_LAUNCH();
    return;
  }
  // Chunks depend on the shape only, so the summation order (and the result) is reproducible.
  const int64_t want = (kTargetBlocks + n_out - 1) / n_out;
  const int64_t chunks = std::max<int64_t>(1, std::min(want, n_red / kMinChunk));
  const int64_t chunk_len = (n_red + chunks - 1) / chunks;
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(n_out * chunks, 65535LL * 8));
  if (chunks == 1) {
    reduce_block_kernel<OP, T, Acc>
        <<<grid, kThreads, 0, s>>>(src, dst, nullptr, n_out, n_red, 1, chunk_len, kept, red);
    OCTET_CUDA_CHECK_LAUNCH();
    return;
  }
  DeviceBuffer partial(static_cast<size_t>(n_out * chunks) * sizeof(Acc), dev);
  Acc* part = partial.as<Acc>();
  reduce_block_kernel<OP, T, Acc>
      <<<grid, kThreads, 0, s>>>(src, dst, part, n_out, n_red, chunks, chunk_len, kept, red);
  OCTET_CUDA_CHECK_LAUNCH();
  reduce_finish_kernel<OP, T, Acc>
      <<<blocks_for(n_out), kThreads, 0, s>>>(part, dst, n_out, chunks, kept);
  OCTET_CUDA_CHECK_LAUNCH();
}

// ---- argmax -----------------------------------------------------------------------------------

// The best (value, index) seen so far; index kNone until a non-NaN element was seen. Larger
// values win, ties go to the smaller index: the first maximum, as std::max_element finds it.
template <typename T>
struct Best {
  T v;
  int64_t i;
};
constexpr int64_t kNone = std::numeric_limits<int64_t>::max();

template <typename T>
__device__ Best<T> better(Best<T> a, Best<T> b) {
  return (b.v > a.v || (b.v == a.v && b.i < a.i)) ? b : a;
}

template <typename T>
__device__ Best<T> warp_best(Best<T> b) {
  for (int offset = 16; offset > 0; offset /= 2) {
    Best<T> other{__shfl_down_sync(kFullMask, b.v, offset),
                  __shfl_down_sync(kFullMask, b.i, offset)};
    b = better(b, other);
  }
  return b;
}

// One block per row (grid-stride over rows); NaNs are skipped, and a row starting with NaN
// answers 0, because std::max_element never moves off a NaN first element.
template <typename T>
__global__ void argmax_kernel(const T* in, int64_t* out, int64_t rows, int64_t n) {
  __shared__ T warp_v[32];
  __shared__ int64_t warp_i[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* x = in + row * n;
    Best<T> b{-infinity<T>(), kNone};
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      const T v = x[j];
      if (v == v) b = better(b, Best<T>{v, j});
    }
    b = warp_best(b);
    if (lane == 0) {
      warp_v[warp] = b.v;
      warp_i[warp] = b.i;
    }
    __syncthreads();
    if (warp == 0) {
      b = lane < int(blockDim.x / 32) ? Best<T>{warp_v[lane], warp_i[lane]}
                                      : Best<T>{-infinity<T>(), kNone};
      b = warp_best(b);
      if (lane == 0) out[row] = (x[0] != x[0] || b.i == kNone) ? 0 : b.i;
    }
    __syncthreads();
  }
}

template <typename Fn>
void dispatch_reduce(ReduceOp op, Fn&& fn) {
  using C = ReduceOp;
  switch (op) {
    case C::sum:
      fn(std::integral_constant<C, C::sum>{});
      return;
    case C::max:
      fn(std::integral_constant<C, C::max>{});
      return;
    case C::min:
      fn(std::integral_constant<C, C::min>{});
      return;
    case C::amax:
      fn(std::integral_constant<C, C::amax>{});
      return;
  }
}

}  // namespace

void reduce(ReduceOp op, const View& in, const View& out) {
  cpu::check_same_dtype("reduce", in, out);
  const int dev = device_of("reduce", {&in, &out});
  OCTET_CHECK(in.dim() == out.dim(), "reduce", "keepdim output expected: ", shape_str(in.shape),
              " -> ", shape_str(out.shape));
  for (int64_t d = 0; d < in.dim(); ++d)
    OCTET_CHECK(out.shape[d] == in.shape[d] || out.shape[d] == 1, "reduce", "cannot reduce ",
                shape_str(in.shape), " to ", shape_str(out.shape));
  cpu::dispatch_float(in.dtype, "reduce", [&](auto t) {
    using T = decltype(t);
    dispatch_reduce(op, [&](auto c) { reduce_typed<decltype(c)::value, T>(in, out, dev); });
  });
}

void argmax_last(const View& in, const View& out) {
  OCTET_CHECK(out.dtype == DType::i64 && in.is_contiguous() && out.is_contiguous(), "argmax",
              "needs contiguous input and an i64 output");
  const int dev = device_of("argmax", {&in, &out});
  const int64_t n = in.dim() ? in.shape.back() : 1;
  const int64_t rows = n ? in.numel() / n : 0;
  OCTET_CHECK(out.numel() == rows, "argmax", "output ", shape_str(out.shape), " for input ",
              shape_str(in.shape));
  if (rows == 0) return;
  cudaStream_t s = stream_on(dev);
  // Rows of up to a warp's worth use 32 threads per block; longer rows a full block.
  const int threads = n <= 32 ? 32 : kThreads;
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(rows, 65535LL * 8));
  cpu::dispatch_float(in.dtype, "argmax", [&](auto t) {
    using T = decltype(t);
    argmax_kernel<T><<<grid, threads, 0, s>>>(in.ptr<const T>(), out.ptr<int64_t>(), rows, n);
  });
  OCTET_CUDA_CHECK_LAUNCH();
}

}  // namespace octet::cuda
