// optimizer_step.h without the backend (see no_backend.h).
#include "ops/cuda/optimizer_step.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

void adamw_step(float*, const float*, float*, float*, int64_t, const AdamWHyper&, int) {
  no_backend("adamw_step");
}
void sgd_step(float*, const float*, float*, int64_t, const SgdHyper&, int) {
  no_backend("sgd_step");
}
void sum_of_squares_into(const float*, int64_t, double*, int) { no_backend("sum_of_squares"); }
double sum_of_squares(const float*, int64_t, int) { no_backend("sum_of_squares"); }
void clip_coefficient(const double*, double, float*, int) { no_backend("clip_coefficient"); }
void scale_in_place(float*, int64_t, const float*, int) { no_backend("scale_in_place"); }

}  // namespace octet::cuda
