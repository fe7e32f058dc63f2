// fake_quant.h without the backend (see no_backend.h).
#include "ops/cuda/fake_quant.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

template <typename T>
void fake_quant_int(const T*, int64_t, const quant::ScaleLayout&, const T*, const T*, int64_t,
                    int64_t, T*, uint8_t*, int) {
  no_backend("fake_quant_int");
}
template <typename T>
void apply_ste_mask(const T*, const uint8_t*, int64_t, T*, int) {
  no_backend("apply_ste_mask");
}
void fake_quant_fp8(const float*, int64_t, const quant::ScaleLayout&, const float*,
                    quant::Fp8Format, bool, float*, uint8_t*, int) {
  no_backend("fake_quant_fp8");
}
void fake_quant_fp8_current(const float*, int64_t, const quant::ScaleLayout&, quant::Fp8Format,
                            bool, float*, float*, uint8_t*, int) {
  no_backend("fake_quant_fp8_current");
}
void fp8_scales_from_amax(const float*, int64_t, quant::Fp8Format, float, int, float*, int) {
  no_backend("fp8_scales_from_amax");
}
template <typename T>
void lsq_backward(const T*, const T*, int64_t, const quant::ScaleLayout&, const T*, const T*,
                  int64_t, int64_t, double, T*, T*, T*, int) {
  no_backend("lsq_backward");
}

template void fake_quant_int<float>(const float*, int64_t, const quant::ScaleLayout&, const float*,
                                    const float*, int64_t, int64_t, float*, uint8_t*, int);
template void fake_quant_int<double>(const double*, int64_t, const quant::ScaleLayout&,
                                     const double*, const double*, int64_t, int64_t, double*,
                                     uint8_t*, int);
template void apply_ste_mask<float>(const float*, const uint8_t*, int64_t, float*, int);
template void apply_ste_mask<double>(const double*, const uint8_t*, int64_t, double*, int);
template void lsq_backward<float>(const float*, const float*, int64_t, const quant::ScaleLayout&,
                                  const float*, const float*, int64_t, int64_t, double, float*,
                                  float*, float*, int);
template void lsq_backward<double>(const double*, const double*, int64_t, const quant::ScaleLayout&,
                                   const double*, const double*, int64_t, int64_t, double, double*,
                                   double*, double*, int);

}  // namespace octet::cuda
