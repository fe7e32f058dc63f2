#pragma once
// Per-thread scratch buffers that only grow: a forward pass reuses them call after call, and
// std::vector::resize would zero-fill every time a buffer grows back after a smaller use.
#include <cstdint>
#include <vector>

namespace octet::runtime {

// Makes v hold at least n elements (contents unspecified) and returns its data.
template <typename T>
T* grow(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

}  // namespace octet::runtime
