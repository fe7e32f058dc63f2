#pragma once
// The ground floor's only data structure: a typed, strided window onto memory that somebody else
// owns. Kernels take Views; Tensor (framework/) owns storage and hands Views down.
#include <cstdint>
#include <string>
#include <vector>

#include "ops/dtype.h"

namespace octet {

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
};

using Shape = std::vector<int64_t>;

int64_t numel_of(const Shape& shape);
Shape contiguous_strides(const Shape& shape);
std::string shape_str(const Shape& shape);

struct View {
  void* data = nullptr;  // points at element [0,0,...], offset already applied
  DType dtype = DType::f32;
  Device device;
  Shape shape;
  Shape strides;  // in elements

  int64_t numel() const { return numel_of(shape); }
  int64_t dim() const { return static_cast<int64_t>(shape.size()); }
  bool is_contiguous() const;
  template <typename T>
  T* ptr() const { return static_cast<T*>(data); }
};

}  // namespace octet
