#include <algorithm>

#include "ops/cuda/check.h"
#include "ops/cuda/indexing.cuh"
#include "ops/cuda/outliers.h"
#include "ops/cuda/quant_runs.cuh"
#include "ops/quant/outliers.h"

namespace octet::cuda {
namespace {

using quant_detail::float_of;
using quant_detail::key_of;

// Rows per slab of column_abs_max: a thread reduces one column over a slab (coalesced across the
// warp), then merges into the column's key with one atomic.
constexpr int64_t kSlab = 256;

// acc: [cols] keys of max |x| (starting at +0), [cols] NaN flags.
__global__ void column_init_kernel(uint32_t* acc, int64_t cols) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < cols;
       c += int64_t(gridDim.x) * blockDim.x) {
    acc[c] = key_of(0.0f);
    acc[cols + c] = 0;
  }
}

__global__ void column_reduce_kernel(const float* x, int64_t rows, int64_t cols, uint32_t* acc) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= cols) return;
  const int64_t first = blockIdx.y * kSlab;
  const int64_t last = first + kSlab < rows ? first + kSlab : rows;
  float best = 0.0f;
  bool nan = false;
  for (int64_t r = first; r < last; ++r) {
    const float v = fabsf(x[r * cols + c]);
    best = v > best ? v : best;
    nan = nan || isnan(v);
  }
  if (best > 0.0f) atomicMax(&acc[c], key_of(best));
  if (nan) atomicOr(&acc[cols + c], 1u);
}

__global__ void column_finish_kernel(const uint32_t* acc, int64_t cols, float* amax) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < cols;
       c += int64_t(gridDim.x) * blockDim.x)
    amax[c] = acc[cols + c] ? __int_as_float(0x7fc00000) : float_of(acc[c]);
}

__global__ void gather_kernel(const float* x, int64_t rows, int64_t cols, const int64_t* columns,
                              int64_t k, float* out) {
  const int64_t n = rows * k;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / k;
    out[i] = x[r * cols + columns[i - r * k]];
  }
}

// Columns are unique, so no two threads add into the same element.
__global__ void scatter_add_kernel(const float* src, int64_t rows, int64_t k,
                                   const int64_t* columns, int64_t cols, float* out) {
  const int64_t n = rows * k;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / k;
    out[r * cols + columns[i - r * k]] += src[i];
  }
}

// A checked host column list uploaded to device scratch for the launch; released (stream
// ordered) when the launcher returns.
struct DeviceColumns {
  int64_t* ptr = nullptr;
  int device;
  DeviceColumns(const char* op, const int64_t* columns, int64_t k, int64_t cols, int d)
      : device(d) {
    quant::check_columns(op, columns, k, cols);
    if (k == 0) return;
    ptr = static_cast<int64_t*>(allocate(static_cast<size_t>(k) * sizeof(int64_t), d));
    copy_bytes(ptr, Device{DeviceType::cuda, d}, columns, Device{},
               static_cast<size_t>(k) * sizeof(int64_t));
  }
  ~DeviceColumns() {
    if (ptr != nullptr) release(ptr, device);
  }
  DeviceColumns(const DeviceColumns&) = delete;
  DeviceColumns& operator=(const DeviceColumns&) = delete;
};

}  // namespace

void column_abs_max(const float* x, int64_t rows, int64_t cols, float* amax, int device) {
  OCTET_CHECK(rows >= 0 && cols >= 0, "column_abs_max", "negative shape [", rows, ", ", cols, "]");
  if (cols == 0) return;
  cudaStream_t s = stream_on(device);
  auto* acc = static_cast<uint32_t*>(allocate(2 * static_cast<size_t>(cols) * 4, device));
  struct Release {
    void* p;
    int d;
    ~Release() { release(p, d); }
  } guard{acc, device};
  column_init_kernel<<<blocks_for(cols), kThreads, 0, s>>>(acc, cols);
  OCTET_CUDA_CHECK_LAUNCH();
  if (rows > 0) {
    const int64_t slabs = (rows + kSlab - 1) / kSlab;
    OCTET_CHECK(slabs <= 65535, "column_abs_max", rows, " rows exceed the kernel's ",
                65535 * kSlab);
    const dim3 grid(static_cast<unsigned>((cols + kThreads - 1) / kThreads),
                    static_cast<unsigned>(slabs));
    column_reduce_kernel<<<grid, kThreads, 0, s>>>(x, rows, cols, acc);
    OCTET_CUDA_CHECK_LAUNCH();
  }
  column_finish_kernel<<<blocks_for(cols), kThreads, 0, s>>>(acc, cols, amax);
  OCTET_CUDA_CHECK_LAUNCH();
}

void gather_columns(const float* x, int64_t rows, int64_t cols, const int64_t* columns, int64_t k,
                    float* out, int device) {
  OCTET_CHECK(rows >= 0, "gather_columns", "negative rows ", rows);
  const DeviceColumns dc("gather_columns", columns, k, cols, device);
  if (rows * k == 0) return;
  cudaStream_t s = stream_on(device);
  gather_kernel<<<blocks_for(rows * k), kThreads, 0, s>>>(x, rows, cols, dc.ptr, k, out);
  OCTET_CUDA_CHECK_LAUNCH();
}

void gather_complement_columns(const float* x, int64_t rows, int64_t cols,
                               const std::vector<int64_t>& columns, float* out, int device) {
  const std::vector<int64_t> rest = quant::complement_columns(columns, cols);
  gather_columns(x, rows, cols, rest.data(), static_cast<int64_t>(rest.size()), out, device);
}

void scatter_add_columns(const float* src, int64_t rows, int64_t k, const int64_t* columns,
                         int64_t cols, float* out, int device) {
  OCTET_CHECK(rows >= 0, "scatter_add_columns", "negative rows ", rows);
  const DeviceColumns dc("scatter_add_columns", columns, k, cols, device);
  if (rows * k == 0) return;
  cudaStream_t s = stream_on(device);
  scatter_add_kernel<<<blocks_for(rows * k), kThreads, 0, s>>>(src, rows, k, dc.ptr, cols, out);
  OCTET_CUDA_CHECK_LAUNCH();
}

}  // namespace octet::cuda
