#include <algorithm>

#include "ops/cuda/check.h"
#include "ops/cuda/quant_runs.cuh"
#include "ops/cuda/range.h"

namespace octet::cuda {
namespace {

using quant_detail::float_of;
using quant_detail::key_of;
using quant_detail::reduce_blocks;
using quant_detail::reduce_chunk;
using quant_detail::Runs;

struct RangeAcc {
  float lo, hi;
  bool nan;
  __device__ static RangeAcc merge(RangeAcc a, RangeAcc b) {
    return {b.lo < a.lo ? b.lo : a.lo, b.hi > a.hi ? b.hi : a.hi, a.nan || b.nan};
  }
  __device__ static RangeAcc shfl_xor(RangeAcc a, int m) {
    const unsigned full = 0xffffffffu;
    return {__shfl_xor_sync(full, a.lo, m), __shfl_xor_sync(full, a.hi, m),
            __shfl_xor_sync(full, int(a.nan), m) != 0};
  }
};

// acc: [count] lo keys, [count] hi keys, [count] NaN flags.
__global__ void init_kernel(uint32_t* acc, int64_t count, float hi_start) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < count;
       c += int64_t(gridDim.x) * blockDim.x) {
    acc[c] = key_of(__int_as_float(0x7f800000));  // +inf
    acc[count + c] = key_of(hi_start);
    acc[2 * count + c] = 0;
  }
}

template <bool kAbs>
__global__ void reduce_kernel(const float* x, int64_t n, Runs runs, uint32_t* acc) {
  const float inf = __int_as_float(0x7f800000);
  const RangeAcc empty{inf, kAbs ? 0.0f : -inf, false};
  reduce_chunk<RangeAcc>(
      n, runs, empty,
      [&](int64_t i, RangeAcc& a) {
        const float v = kAbs ? fabsf(x[i]) : x[i];
        a.lo = v < a.lo ? v : a.lo;
        a.hi = v > a.hi ? v : a.hi;
        a.nan = a.nan || isnan(v);
      },
      [&](int64_t c, const RangeAcc& a) {
        if (!kAbs && a.lo != inf) atomicMin(&acc[c], key_of(a.lo));
        if (a.hi != empty.hi) atomicMax(&acc[runs.count + c], key_of(a.hi));
        if (a.nan) atomicOr(&acc[2 * runs.count + c], 1u);
      });
}

__global__ void finish_kernel(const uint32_t* acc, int64_t count, float* lo, float* hi) {
  const float nan = __int_as_float(0x7fc00000);
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < count;
       c += int64_t(gridDim.x) * blockDim.x) {
    const bool has_nan = acc[2 * count + c] != 0;
    if (lo != nullptr) lo[c] = has_nan ? nan : float_of(acc[c]);
    hi[c] = has_nan ? nan : float_of(acc[count + c]);
  }
}

template <bool kAbs>
void reduce(const char* op, const float* x, int64_t n, const quant::ScaleLayout& layout, float* lo,
            float* hi, int device) {
  const Runs runs = quant_detail::runs_of(layout, n, op);
  const int64_t period = runs.inner * runs.count;
  OCTET_CHECK(n % period == 0, op, n, " elements do not fill whole periods of ", runs.count,
              " scales x ", runs.inner, " elements");
  cudaStream_t s = stream_on(device);
  const size_t bytes = 3 * static_cast<size_t>(runs.count) * sizeof(uint32_t);
  auto* acc = static_cast<uint32_t*>(allocate(bytes, device));
  const unsigned small_blocks = static_cast<unsigned>(std::min<int64_t>(
      (runs.count + quant_detail::kReduceThreads - 1) / quant_detail::kReduceThreads, 65535));
  const int threads = quant_detail::kReduceThreads;
  // The scratch goes back to the cache right after the launches: the allocator's reuse is
  // ordered by the same stream, so no later kernel can see it before these finish.
  struct Release {
    void* p;
    int d;
    ~Release() { release(p, d); }
  } guard{acc, device};
  init_kernel<<<small_blocks, threads, 0, s>>>(acc, runs.count,
                                               kAbs ? 0.0f : -__builtin_huge_valf());
  OCTET_CUDA_CHECK_LAUNCH();
  if (n > 0) {
    reduce_kernel<kAbs><<<reduce_blocks(n), threads, 0, s>>>(x, n, runs, acc);
    OCTET_CUDA_CHECK_LAUNCH();
  }
  finish_kernel<<<small_blocks, threads, 0, s>>>(acc, runs.count, kAbs ? nullptr : lo, hi);
  OCTET_CUDA_CHECK_LAUNCH();
}

}  // namespace

void min_max(const float* x, int64_t n, const quant::ScaleLayout& layout, float* mins, float* maxs,
             int device) {
  reduce<false>("min_max", x, n, layout, mins, maxs, device);
}

void abs_max(const float* x, int64_t n, const quant::ScaleLayout& layout, float* amaxs,
             int device) {
  reduce<true>("abs_max", x, n, layout, nullptr, amaxs, device);
}

}  // namespace octet::cuda
