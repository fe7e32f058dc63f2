// outliers.h without the backend (see no_backend.h).
#include "ops/cuda/outliers.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

void column_abs_max(const float*, int64_t, int64_t, float*, int) { no_backend("column_abs_max"); }
void gather_columns(const float*, int64_t, int64_t, const int64_t*, int64_t, float*, int) {
  no_backend("gather_columns");
}
void gather_complement_columns(const float*, int64_t, int64_t, const std::vector<int64_t>&, float*,
                               int) {
  no_backend("gather_complement_columns");
}
void scatter_add_columns(const float*, int64_t, int64_t, const int64_t*, int64_t, float*, int) {
  no_backend("scatter_add_columns");
}

}  // namespace octet::cuda
