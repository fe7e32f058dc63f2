// quantize.h without the backend (see no_backend.h).
#include "ops/cuda/quantize.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

template <typename Code>
void quantize_int(const float*, int64_t, const quant::ScaleLayout&, const float*, const float*,
                  int64_t, int64_t, Code*, int) {
  no_backend("quantize_int");
}
template <typename Code>
void dequantize_int(const Code*, int64_t, const quant::ScaleLayout&, const float*, const float*,
                    int64_t, int64_t, float*, int) {
  no_backend("dequantize_int");
}
void quantize_fp8(const float*, int64_t, const quant::ScaleLayout&, const float*, quant::Fp8Format,
                  bool, uint8_t*, int) {
  no_backend("quantize_fp8");
}
void dequantize_fp8(const uint8_t*, int64_t, const quant::ScaleLayout&, const float*,
                    quant::Fp8Format, float*, int) {
  no_backend("dequantize_fp8");
}
void quantize_bf16_int8(const uint16_t*, int64_t, const float*, int64_t, int64_t, int8_t*, int) {
  no_backend("quantize_bf16_int8");
}
void quantize_bf16_fp8(const uint16_t*, int64_t, const float*, quant::Fp8Format, bool, uint8_t*,
                       int) {
  no_backend("quantize_bf16_fp8");
}
void quantize_rows_int8(const float*, int64_t, int64_t, int64_t, int8_t*, float*, int) {
  no_backend("quantize_rows_int8");
}

template void quantize_int<int8_t>(const float*, int64_t, const quant::ScaleLayout&, const float*,
                                   const float*, int64_t, int64_t, int8_t*, int);
template void quantize_int<uint8_t>(const float*, int64_t, const quant::ScaleLayout&, const float*,
                                    const float*, int64_t, int64_t, uint8_t*, int);
template void dequantize_int<int8_t>(const int8_t*, int64_t, const quant::ScaleLayout&,
                                     const float*, const float*, int64_t, int64_t, float*, int);
template void dequantize_int<uint8_t>(const uint8_t*, int64_t, const quant::ScaleLayout&,
                                      const float*, const float*, int64_t, int64_t, float*, int);

}  // namespace octet::cuda
