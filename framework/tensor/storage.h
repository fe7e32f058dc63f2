#pragma once
// A block of device memory shared by every tensor that views it. 64-byte aligned so AVX-512 loads
// and archive blobs line up.
#include <cstddef>
#include <memory>

#include "ops/view.h"

namespace octet {

class Storage {
 public:
  Storage(size_t nbytes, Device device);
  // Wraps memory owned elsewhere (an mmap'd archive); `keep_alive` holds the owner.
  Storage(void* data, size_t nbytes, Device device, std::shared_ptr<void> keep_alive);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  const Device& device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  bool owned_ = true;
  std::shared_ptr<void> keep_alive_;
};

}  // namespace octet
