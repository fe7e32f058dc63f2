#pragma once
// Host-side checks shared by the launchers of ops/cuda/: the dtype dispatch of the CPU kernels
// (ops/cpu/dispatch.h) plus the one rule the CPU never needs, that every view lives on the same
// CUDA device. Plain C++, so both .cu and .cpp files of ops/cuda/ may include it.
#include <initializer_list>

#include "ops/cpu/dispatch.h"
#include "ops/error.h"
#include "ops/view.h"

namespace octet::cuda {

using cpu::check_same_dtype;
using cpu::dispatch_float;

// Returns the CUDA device index all the given views live on; throws [op] otherwise.
inline int device_of(const char* op, std::initializer_list<const View*> views) {
  const View& first = **views.begin();
  for (const View* v : views) {
    OCTET_CHECK(v->device.type == DeviceType::cuda && v->device == first.device, op,
                "the cuda kernel needs every operand on one CUDA device, got ", first.device.str(),
                " and ", v->device.str());
  }
  return first.device.index;
}

}  // namespace octet::cuda
