#pragma once
// A device copy of the FP8 scale rule of ops/quant/scale_rules.h, for kernels that turn a reduced
// amax into a scale without a trip to the host (FP8 current scaling). The CPU function stays the
// definition; tests/gpu/cuda_quant_test.cpp checks this one gives its floats on many amax values.
// Integer rules (int_qparams) throw on non-finite ranges, so their callers copy the few reduced
// statistics to the host and use the CPU rule itself. Same float operations in the same order.
#include <cstdint>

#include "ops/quant/scale_rules.h"

namespace octet::cuda::rules {

// fp8_scale: s = ldexp(fp8_max / amax, -margin); the previous scale when amax is 0, negative,
// infinite or NaN, or when s is not finite.
__device__ __forceinline__ float fp8_scale(float fp8_max, float amax, float previous_scale,
                                           int margin) {
  if (!(amax > 0.0f) || !isfinite(amax)) return previous_scale;
  const float s = ldexpf(__fdiv_rn(fp8_max, amax), -margin);
  return isfinite(s) ? s : previous_scale;
}

}  // namespace octet::cuda::rules
