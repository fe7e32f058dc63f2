#pragma once
// How a differentiable op picks its kernels: every operand must live on one device, and that
// device decides between ops/cpu/ and ops/cuda/. framework/ writes
//   const Device dev = common_device("add", {a.device(), b.device()});
//   Tensor out = Tensor::empty(shape, dtype, dev);
//   if (on_cuda(dev)) cuda::binary(...); else cpu::binary(...);
// so an op never mixes host and device pointers.
#include <initializer_list>

#include "ops/error.h"
#include "ops/view.h"

namespace octet {

inline Device common_device(const char* op, std::initializer_list<Device> devices) {
  const Device first = *devices.begin();
  for (const Device& d : devices)
    OCTET_CHECK(d == first, op, "operands live on different devices: ", first.str(), " and ",
                d.str(), "; move them with .to(device) first");
  return first;
}

inline bool on_cuda(const Device& d) { return d.type == DeviceType::cuda; }

}  // namespace octet
