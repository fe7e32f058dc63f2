// fp8.h without the backend (see no_backend.h).
#include "ops/cuda/fp8.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

void fp8_quantize(const float*, int64_t, float, quant::Fp8Format, bool, uint8_t*, int) {
  no_backend("fp8_quantize");
}
void fp8_dequantize(const uint8_t*, int64_t, float, quant::Fp8Format, float*, int) {
  no_backend("fp8_dequantize");
}
void fp8_encode_bit_patterns(uint32_t, int64_t, quant::Fp8Format, bool, uint8_t*, int) {
  no_backend("fp8_encode_bit_patterns");
}
Fp8SweepResult fp8_compare_with_cuda(uint64_t, uint64_t, quant::Fp8Format, bool, int) {
  no_backend("fp8_compare_with_cuda");
}

}  // namespace octet::cuda
