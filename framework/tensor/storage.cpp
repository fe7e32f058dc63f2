#include "framework/tensor/storage.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "ops/cuda/runtime.h"
#include "ops/error.h"

namespace octet {
namespace {

// Training allocates and frees the same activation sizes every step. glibc serves large blocks
// with fresh mmaps and returns them on free, so every step paid page faults and kernel zeroing
// (a third of the CNN's CPU time was system time). Keeping freed blocks in the heap makes later
// allocations of the same sizes reuse warm pages.
[[maybe_unused]] const bool kHeapTuned = [] {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return true;
}();

}  // namespace

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.type == DeviceType::cuda) {
    data_ = cuda::allocate(nbytes, device.index);
    return;
  }
  size_t rounded = (nbytes + 63) / 64 * 64;
  data_ = std::aligned_alloc(64, rounded ? rounded : 64);
  if (!data_) throw std::bad_alloc();
}

Storage::Storage(void* data, size_t nbytes, Device device, std::shared_ptr<void> keep_alive)
    : data_(data),
      nbytes_(nbytes),
      device_(device),
      owned_(false),
      keep_alive_(std::move(keep_alive)) {}

Storage::~Storage() {
  if (!owned_) return;
  if (device_.type == DeviceType::cuda)
    cuda::release(data_, device_.index);
  else
    std::free(data_);
}

}  // namespace octet
