#pragma once
// Element types and their conversions. f8e4m3/f8e5m2 are storage placeholders here; their codec
// lives in ops/quant (it belongs to the number formats, shared by fake-quant and the runtime).
#include <cstdint>
#include <cstring>
#include <string>

namespace octet {

enum class DType : uint8_t { f64, f32, bf16, f16, i64, i32, i8, u8, f8e4m3, f8e5m2 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
DType dtype_from_name(const std::string& name);  // throws on an unknown name
bool is_floating(DType t);

// bf16: the upper half of an f32, rounded to nearest even (NaN stays NaN).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);

}  // namespace octet
