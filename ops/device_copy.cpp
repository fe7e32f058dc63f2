#include "ops/device_copy.h"

#include "ops/cpu/copy.h"
#include "ops/cuda/copy.h"
#include "ops/cuda/runtime.h"
#include "ops/error.h"

namespace octet {

void copy_any(const View& src, const View& dst) {
  if (src.device == dst.device) {
    if (src.device.type == DeviceType::cpu)
      cpu::copy(src, dst);
    else
      cuda::copy(src, dst);
    return;
  }
  OCTET_CHECK(src.shape == dst.shape, "copy", "shapes differ: ", shape_str(src.shape), " vs ",
              shape_str(dst.shape));
  OCTET_CHECK(src.dtype == dst.dtype, "copy", "from ", src.device.str(), " to ", dst.device.str(),
              " needs one dtype, got ", dtype_name(src.dtype), " and ", dtype_name(dst.dtype));
  OCTET_CHECK(src.is_contiguous() && dst.is_contiguous(), "copy", "from ", src.device.str(), " to ",
              dst.device.str(), " needs contiguous views");
  cuda::copy_bytes(dst.data, dst.device, src.data, src.device, src.numel() * dtype_size(src.dtype));
}

void fill_any(const View& dst, double value) {
  if (dst.device.type == DeviceType::cpu)
    cpu::fill(dst, value);
  else
    cuda::fill(dst, value);
}

}  // namespace octet
