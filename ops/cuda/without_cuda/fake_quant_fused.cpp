// fake_quant_fused.h without the backend (see no_backend.h).
#include "ops/cuda/fake_quant_fused.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

void fake_quant_fp8_fused(const float*, int64_t, const quant::ScaleLayout&, const float*,
                          quant::Fp8Format, bool, const FakeQuantOutputs&, int) {
  no_backend("fake_quant_fp8_fused");
}
void fake_quant_int_fused(const float*, int64_t, const quant::ScaleLayout&, const float*,
                          const float*, int64_t, int64_t, const FakeQuantOutputs&, int) {
  no_backend("fake_quant_int_fused");
}

void apply_ste_mask_in_place(float*, const uint8_t*, int64_t, const int32_t*, int) {
  no_backend("apply_ste_mask_in_place");
}

}  // namespace octet::cuda
