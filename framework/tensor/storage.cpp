#include "framework/tensor/storage.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "ops/error.h"

namespace octet {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  OCTET_CHECK(device.type == DeviceType::cpu, "storage",
              "no CUDA backend in this build (device ", device.str(), ")");
  size_t rounded = (nbytes + 63) / 64 * 64;
  data_ = std::aligned_alloc(64, rounded ? rounded : 64);
  if (!data_) throw std::bad_alloc();
}

Storage::Storage(void* data, size_t nbytes, Device device, std::shared_ptr<void> keep_alive)
    : data_(data), nbytes_(nbytes), device_(device), owned_(false),
      keep_alive_(std::move(keep_alive)) {}

Storage::~Storage() {
  if (owned_) std::free(data_);
}

}  // namespace octet
