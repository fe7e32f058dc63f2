#include "ops/cpu/dropout.h"

#include <cstdint>

#include "ops/cpu/dispatch.h"

namespace octet::cpu {

void dropout_apply(const View& x, const View& keep, double scale, const View& out) {
  OCTET_CHECK(keep.dtype == DType::u8 && keep.numel() == x.numel() && out.numel() == x.numel(),
              "dropout", "mask ", dtype_name(keep.dtype), shape_str(keep.shape), " and output ",
              shape_str(out.shape), " must match input ", shape_str(x.shape));
  OCTET_CHECK(x.is_contiguous() && keep.is_contiguous() && out.is_contiguous(), "dropout",
              "needs contiguous operands");
  check_same_dtype("dropout", x, out);
  dispatch_float(x.dtype, "dropout", [&](auto t) {
    using T = decltype(t);
    const T* px = x.ptr<T>();
    const uint8_t* pk = keep.ptr<uint8_t>();
    T* py = out.ptr<T>();
    const T s = static_cast<T>(scale);
    const int64_t n = x.numel();
    // A multiply by the 0/1 byte rather than a branch: the mask is random, so a branch would
    // mispredict, and the select stops the loop from vectorising.
#pragma omp parallel for simd schedule(static) if (n >= (1 << 16))
    for (int64_t i = 0; i < n; ++i) py[i] = px[i] * (static_cast<T>(pk[i]) * s);
  });
}

}  // namespace octet::cpu
