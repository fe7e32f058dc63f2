#include "ops/cpu/copy.h"

#include <cstring>
#include <type_traits>

#include "ops/cpu/strided_loop.h"
#include "ops/error.h"

namespace octet::cpu {
namespace {

// Loads and stores through float/double for the 16-bit float formats.
template <typename T>
struct Elem {
  static double load(const T* p) { return static_cast<double>(*p); }
  static void store(T* p, double v) { *p = static_cast<T>(v); }
};
struct Bf16 {
  uint16_t bits;
};
struct F16 {
  uint16_t bits;
};
template <>
struct Elem<Bf16> {
  static double load(const Bf16* p) { return bf16_to_f32(p->bits); }
  static void store(Bf16* p, double v) { p->bits = f32_to_bf16(static_cast<float>(v)); }
};
template <>
struct Elem<F16> {
  static double load(const F16* p) { return f16_to_f32(p->bits); }
  static void store(F16* p, double v) { p->bits = f32_to_f16(static_cast<float>(v)); }
};

template <typename Fn>
void dispatch(DType t, const char* op, Fn&& fn) {
  switch (t) {
    case DType::f64: fn(double{}); return;
    case DType::f32: fn(float{}); return;
    case DType::bf16: fn(Bf16{}); return;
    case DType::f16: fn(F16{}); return;
    case DType::i64: fn(int64_t{}); return;
    case DType::i32: fn(int32_t{}); return;
    case DType::i8: fn(int8_t{}); return;
    case DType::u8:
    case DType::f8e4m3:
    case DType::f8e5m2: fn(uint8_t{}); return;
  }
  throw Error(op, "unsupported dtype");
}

template <typename S, typename D>
void copy_typed(const View& src, const View& dst) {
  const S* s = static_cast<const S*>(src.data);
  D* d = static_cast<D*>(dst.data);
  for_each_row<2>(dst.shape, {&src.strides, &dst.strides}, [&](const RowCursor<2>& row) {
    const S* sp = s + row.offset[0];
    D* dp = d + row.offset[1];
    const int64_t ss = row.step[0], ds = row.step[1];
    if constexpr (std::is_arithmetic_v<S> && std::is_arithmetic_v<D>) {
      if (ss == 1 && ds == 1) {
        for (int64_t i = 0; i < row.length; ++i) dp[i] = static_cast<D>(sp[i]);
        return;
      }
      for (int64_t i = 0; i < row.length; ++i) dp[i * ds] = static_cast<D>(sp[i * ss]);
    } else {
      for (int64_t i = 0; i < row.length; ++i) Elem<D>::store(dp + i * ds, Elem<S>::load(sp + i * ss));
    }
  });
}

}  // namespace

void copy(const View& src, const View& dst) {
  OCTET_CHECK(src.shape == dst.shape, "copy", "shapes differ: ", shape_str(src.shape), " vs ",
              shape_str(dst.shape));
  const bool fp8 = src.dtype == DType::f8e4m3 || src.dtype == DType::f8e5m2 ||
                   dst.dtype == DType::f8e4m3 || dst.dtype == DType::f8e5m2;
  OCTET_CHECK(!fp8 || src.dtype == dst.dtype, "copy",
              "fp8 values are converted by the fp8 codec (ops/quant), not by copy: ",
              dtype_name(src.dtype), " -> ", dtype_name(dst.dtype));
  if (src.dtype == dst.dtype && src.is_contiguous() && dst.is_contiguous()) {
    std::memcpy(dst.data, src.data, src.numel() * dtype_size(src.dtype));
    return;
  }
  dispatch(src.dtype, "copy", [&](auto s) {
    dispatch(dst.dtype, "copy", [&](auto d) { copy_typed<decltype(s), decltype(d)>(src, dst); });
  });
}

void fill(const View& dst, double value) {
  dispatch(dst.dtype, "fill", [&](auto d) {
    using D = decltype(d);
    D* p = static_cast<D*>(dst.data);
    D v;
    Elem<D>::store(&v, value);
    for_each_row<1>(dst.shape, {&dst.strides}, [&](const RowCursor<1>& row) {
      D* q = p + row.offset[0];
      for (int64_t i = 0; i < row.length; ++i) q[i * row.step[0]] = v;
    });
  });
}

}  // namespace octet::cpu
