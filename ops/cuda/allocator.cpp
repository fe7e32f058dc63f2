// The caching device allocator (see runtime.h). Blocks are kept in a size-ordered pool per device;
// a request takes the smallest cached block that fits and wastes at most a quarter of it, so a
// training step that allocates the same activation sizes every step stops calling cudaMalloc
// after its first step. All of a device's work runs on one stream, so a block released by the
// host can be handed out at once: the stream orders the new kernels after the old ones.
#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "ops/cuda/check.h"
#include "ops/cuda/runtime.h"

namespace octet::cuda {
namespace {

constexpr size_t kSmallGranule = 512;      // cudaMalloc aligns to 256; 512 keeps bins few
constexpr size_t kLargeGranule = 2 << 20;  // large blocks round to 2 MiB
constexpr size_t kLargeThreshold = 1 << 20;

size_t round_request(size_t nbytes) {
  if (nbytes == 0) nbytes = 1;
  const size_t g = nbytes < kLargeThreshold ? kSmallGranule : kLargeGranule;
  return (nbytes + g - 1) / g * g;
}

struct Pool {
  std::mutex mutex;
  std::multimap<size_t, void*> cached;       // size -> block
  std::unordered_map<void*, size_t> in_use;  // block -> size
  AllocatorStats stats;

  void free_cached(int device) {
    cudaSetDevice(device);
    for (auto& [size, ptr] : cached) cudaFree(ptr);
    cached.clear();
    stats.cached_bytes = 0;
  }
};

Pool& pool(int device) {
  static Pool pools[64];
  return pools[device];
}

std::string mib(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

void* allocate(size_t nbytes, int device) {
  require(Device{DeviceType::cuda, device}, "allocate");
  const size_t size = round_request(nbytes);
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mutex);
  auto it = p.cached.lower_bound(size);
  if (it != p.cached.end() && it->first - size <= it->first / 4) {
    void* ptr = it->second;
    const size_t block = it->first;
    p.cached.erase(it);
    p.in_use[ptr] = block;
    p.stats.cached_bytes -= block;
    p.stats.in_use_bytes += block;
    p.stats.peak_in_use_bytes = std::max(p.stats.peak_in_use_bytes, p.stats.in_use_bytes);
    ++p.stats.cache_hits;
    return ptr;
  }
  OCTET_CUDA_CHECK(cudaSetDevice(device));
  void* ptr = nullptr;
  cudaError_t rc = cudaMalloc(&ptr, size);
  if (rc != cudaSuccess) {
    cudaGetLastError();
    // Out of memory with blocks still cached: give them back and try once more. The cached
    // blocks may still be read by queued kernels, so wait for the stream first.
    cudaStreamSynchronize(static_cast<cudaStream_t>(stream(device)));
    p.free_cached(device);
    rc = cudaMalloc(&ptr, size);
    if (rc != cudaSuccess) {
      cudaGetLastError();
      throw Error("allocate", "cuda:" + std::to_string(device) + " cannot allocate " +
                                  std::to_string(nbytes) + " bytes (" + cudaGetErrorString(rc) +
                                  "); octet holds " + mib(p.stats.in_use_bytes) + " in tensors");
    }
  }
  p.in_use[ptr] = size;
  ++p.stats.device_allocations;
  p.stats.in_use_bytes += size;
  p.stats.peak_in_use_bytes = std::max(p.stats.peak_in_use_bytes, p.stats.in_use_bytes);
  return ptr;
}

void release(void* ptr, int device) {
  if (ptr == nullptr) return;
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mutex);
  auto it = p.in_use.find(ptr);
  // Not ours: a bug in the caller, but a destructor must not throw.
  if (it == p.in_use.end()) return;
  p.cached.emplace(it->second, ptr);
  p.stats.in_use_bytes -= it->second;
  p.stats.cached_bytes += it->second;
  p.in_use.erase(it);
}

AllocatorStats allocator_stats(int device) {
  require(Device{DeviceType::cuda, device}, "allocator_stats");
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mutex);
  return p.stats;
}

void empty_cache(int device) {
  require(Device{DeviceType::cuda, device}, "empty_cache");
  synchronize(device, "empty_cache");
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mutex);
  p.free_cached(device);
}

}  // namespace octet::cuda
