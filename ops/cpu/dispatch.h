#pragma once
// Calls fn(T{}) with T = float or double for the floating dtypes kernels compute in.
#include "ops/error.h"
#include "ops/view.h"

namespace octet::cpu {

template <typename Fn>
void dispatch_float(DType t, const char* op, Fn&& fn) {
  switch (t) {
    case DType::f32: fn(float{}); return;
    case DType::f64: fn(double{}); return;
    default: throw Error(op, std::string("computes in f32 or f64, got ") + dtype_name(t));
  }
}

inline void check_same_dtype(const char* op, const View& a, const View& b) {
  OCTET_CHECK(a.dtype == b.dtype, op, "dtypes differ: ", dtype_name(a.dtype), shape_str(a.shape),
              " vs ", dtype_name(b.dtype), shape_str(b.shape));
}

}  // namespace octet::cpu
