#include "ops/cuda/check.h"
#include "ops/cuda/index_check.cuh"
#include "ops/cuda/indexing.cuh"

namespace octet::cuda {
namespace {

__global__ void scan_kernel(const int64_t* idx, int64_t n, int64_t limit, bool has_ignore,
                            int64_t ignore, unsigned long long* first_bad,
                            unsigned long long* counter) {
  unsigned long long kept = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t v = idx[i];
    if (has_ignore && v == ignore) continue;
    ++kept;
    if (v < 0 || v >= limit) report_bad(first_bad, i);
  }
  if (kept) atomicAdd(counter, kept);
}

}  // namespace

IndexReport::IndexReport(int device) : device_(device) {
  words_ = static_cast<unsigned long long*>(allocate(2 * sizeof(unsigned long long), device));
  cudaStream_t s = stream_on(device);
  OCTET_CUDA_CHECK(cudaMemsetAsync(words_, 0xff, sizeof(unsigned long long), s));
  OCTET_CUDA_CHECK(cudaMemsetAsync(words_ + 1, 0, sizeof(unsigned long long), s));
}

IndexReport::~IndexReport() { release(words_, device_); }

IndexReport::Result IndexReport::read() const {
  unsigned long long host[2];
  copy_bytes(host, Device{}, words_, Device{DeviceType::cuda, device_}, sizeof(host));
  Result r;
  r.first_bad = host[0] == ~0ull ? -1 : static_cast<int64_t>(host[0]);
  r.count = static_cast<int64_t>(host[1]);
  return r;
}

int64_t read_index(const int64_t* at, int device) {
  int64_t v = 0;
  copy_bytes(&v, Device{}, at, Device{DeviceType::cuda, device}, sizeof(v));
  return v;
}

void scan_indices(const int64_t* idx, int64_t n, int64_t limit, bool has_ignore, int64_t ignore,
                  const IndexReport& report, int device) {
  if (n == 0) return;
  cudaStream_t s = stream_on(device);
  scan_kernel<<<blocks_for(n), kThreads, 0, s>>>(idx, n, limit, has_ignore, ignore,
                                                 report.first_bad(), report.counter());
  OCTET_CUDA_CHECK_LAUNCH();
}

}  // namespace octet::cuda
