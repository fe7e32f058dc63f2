#pragma once
// The CUDA runtime as the rest of octet sees it: plain C++ (no CUDA headers), so framework/ and
// the runtime can ask for devices, memory and copies without being compiled by nvcc.
//
// Ordering model: every octet kernel on a device runs on that device's one octet stream, so
// kernels, device-to-device copies and the caching allocator's reuse of freed blocks are ordered
// by the stream alone. Copies that touch host memory wait for the stream, so host code never sees
// a buffer before the kernels that wrote it are done.
//
// In a build without CUDA (OCTET_CUDA=OFF) device_count() is 0 and everything that would need a
// device throws "[op] octet was built without CUDA".
#include <cstddef>
#include <cstdint>

#include "ops/view.h"

namespace octet::cuda {

// True when octet was compiled with its CUDA backend.
bool compiled();
// Number of usable devices; 0 without a driver, a GPU or the backend. Never throws.
int device_count();
inline bool available() { return device_count() > 0; }
// Throws "[op] no CUDA device N (this machine has M)" unless `device` is a usable CUDA device.
void require(const Device& device, const char* op);

// The octet stream of a device (a cudaStream_t, opaque here).
void* stream(int device);
// Blocks until everything queued on the device's octet stream has finished; reports a failed
// kernel as an Error naming `op`.
void synchronize(int device, const char* op = "synchronize");

// Opens (true) or closes (false) the CUDA profiler's capture range (cudaProfilerStart/Stop), so
// that `ncu --profile-from-start off` records only the kernels in between.
void profiler_capture(bool on);

// ---- caching allocator ------------------------------------------------------------------------
// Freed blocks stay cached per device and are handed out again for requests of a similar size,
// because cudaMalloc/cudaFree synchronise the device and cost far more than a training step's
// kernels. When cudaMalloc fails the cache is returned to the driver and the request retried once;
// a second failure throws an Error with the request and the allocator's counts.
void* allocate(size_t nbytes, int device);
void release(void* ptr, int device);
struct AllocatorStats {
  size_t in_use_bytes = 0;  // handed out and not yet released
  size_t cached_bytes = 0;  // released, kept for reuse
  size_t peak_in_use_bytes = 0;
  uint64_t device_allocations = 0;  // cudaMalloc calls (a warm cache stops making them)
  uint64_t cache_hits = 0;
};
AllocatorStats allocator_stats(int device);
// Returns every cached block of the device to the driver.
void empty_cache(int device);

// Owned memory from the caching allocator (none for 0 bytes), released by the destructor. A
// kernel's scratch may be released as soon as the kernels that use it are enqueued: the allocator
// hands a freed block out again only to work on the same device, whose one octet stream orders
// the reuse after them.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(size_t nbytes, int device)
      : ptr_(nbytes > 0 ? allocate(nbytes, device) : nullptr), device_(device) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), device_(o.device_) { o.ptr_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = o.ptr_;
      device_ = o.device_;
      o.ptr_ = nullptr;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void reset() {
    if (ptr_) release(ptr_, device_);
    ptr_ = nullptr;
  }
  void* ptr_ = nullptr;
  int device_ = 0;
};

// ---- copies -----------------------------------------------------------------------------------
// Copies nbytes between any two of host and device memory (a Device of type cpu means host).
void copy_bytes(void* dst, const Device& dst_device, const void* src, const Device& src_device,
                size_t nbytes);
// Sets nbytes of device memory to zero (asynchronously, on the octet stream).
void zero_bytes(void* dst, int device, size_t nbytes);

}  // namespace octet::cuda
