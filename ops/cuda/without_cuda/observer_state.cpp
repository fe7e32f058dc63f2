// observer_state.h without the backend (see no_backend.h).
#include "ops/cuda/observer_state.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

void minmax_observe(const float*, const float*, int64_t, float, float*, float*, float*, int32_t*,
                    int) {
  no_backend("minmax_observe");
}
void minmax_qparams(const float*, const float*, int64_t, const quant::QuantSpec&, const float*, int,
                    float*, float*, int) {
  no_backend("minmax_qparams");
}
void int_qparams_from_ranges(const float*, const float*, int64_t, const quant::QuantSpec&, float*,
                             float*, int) {
  no_backend("int_qparams_from_ranges");
}
void amax_history_scales(const float*, int64_t, int64_t, bool, const quant::QuantSpec&, int,
                         const float*, float*, int) {
  no_backend("amax_history_scales");
}
void amax_history_observe(const float*, int64_t, int64_t, bool, const quant::QuantSpec&, int,
                          float*, float*, int) {
  no_backend("amax_history_observe");
}

}  // namespace octet::cuda
