#pragma once
// The argument checks shared by qgemm.cpp and qlinear.cpp (internal to ops/cuda/, no
// without_cuda twin): each throws an octet::Error naming the op, the operand and the rule.
#include <cstdint>
#include <string>

#include "ops/error.h"
#include "ops/view.h"

namespace octet::cuda::qgemm_checks {

// A 2-D row-major operand: rows x cols, ld elements between rows.
struct Rows {
  void* data = nullptr;
  int64_t rows = 0, cols = 0, ld = 0;
};

inline std::string described(const char* name, const View& v) {
  return octet::detail::concat(name, " ", dtype_name(v.dtype), " ", shape_str(v.shape),
                               " with strides ", shape_str(v.strides));
}

// Checks that v is a 2-D matrix of `dtype` on `device` with unit column stride; a single row's
// leading dimension is irrelevant, so it is given the dense value (rounded up to `ld_multiple`).
inline Rows rows_of(const char* op, const char* name, const View& v, DType dtype,
                    const Device& device, int64_t ld_multiple) {
  OCTET_CHECK(v.dim() == 2 && v.strides.size() == 2, op, name, " must be 2-D, got ",
              described(name, v));
  OCTET_CHECK(v.dtype == dtype, op, name, " must be ", dtype_name(dtype), ", got ",
              described(name, v));
  OCTET_CHECK(v.device == device, op, name, " is on ", v.device.str(), ", expected ", device.str());
  Rows r{v.data, v.shape[0], v.shape[1], v.strides[0]};
  OCTET_CHECK(r.rows >= 0 && r.cols >= 0, op, "negative shape: ", described(name, v));
  OCTET_CHECK(r.cols <= 1 || v.strides[1] == 1, op, name,
              " needs unit column stride (row-major), got ", described(name, v));
  if (r.rows <= 1) r.ld = (r.cols + ld_multiple - 1) / ld_multiple * ld_multiple;
  OCTET_CHECK(r.ld >= r.cols, op, name, " rows overlap: ", described(name, v));
  OCTET_CHECK(r.data != nullptr || r.rows * r.cols == 0, op, name, " has no data");
  return r;
}

// A [1] (per tensor) or [count] f32 scale vector on `device`; returns the step between the scales
// of consecutive rows/channels (0 or 1).
inline int64_t scale_step(const char* op, const char* name, const View& v, int64_t count,
                          const Device& device) {
  const int64_t n = v.numel();
  OCTET_CHECK(v.dtype == DType::f32 && v.dim() == 1 && (n == 1 || n == count), op, name,
              " must be an f32 [1] or [", count, "] vector, got ", described(name, v));
  OCTET_CHECK(n <= 1 || v.strides[0] == 1, op, name, " must be contiguous, got ",
              described(name, v));
  OCTET_CHECK(v.device == device, op, name, " is on ", v.device.str(), ", expected ", device.str());
  return n == 1 ? 0 : 1;
}

inline void check_bias(const char* op, const View* bias, DType dtype, int64_t n,
                       const Device& device) {
  if (!bias) return;
  OCTET_CHECK(bias->dtype == dtype && bias->dim() == 1 && bias->shape[0] == n &&
                  (n <= 1 || bias->strides[0] == 1) && bias->device == device,
              op, "bias must be a contiguous ", device.str(), " ", dtype_name(dtype), " [", n,
              "] vector, got ", described("bias", *bias), " on ", bias->device.str());
}

inline void check_aligned(const char* op, const char* name, const void* p, uint32_t bytes,
                          const char* why) {
  OCTET_CHECK(reinterpret_cast<uintptr_t>(p) % bytes == 0, op, name, " at ", p, " is not ", bytes,
              "-byte aligned (", why, ")");
}

}  // namespace octet::cuda::qgemm_checks
