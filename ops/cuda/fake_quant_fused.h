#pragma once
// Fake-quant fused with what QAT does around it on a GPU, so that a quantized layer's input is read
// once per step instead of three times (quantize, cast for the autocast GEMM, observe):
//   y     the fake-quantized values of fake_quant.h's kernels, written in f32 or bf16; bf16 holds
//         y's f32 value rounded to nearest even, the bits casting the f32 y would give, so an
//         autocast GEMM sees exactly what it would see after a separate cast;
//   mask  the STE mask, as fake_quant.h's (may be null);
//   amax  max |x| over the whole tensor with range.h's rule (a NaN element makes it NaN; no
//         elements give 0), the statistic FP8 delayed scaling records after quantizing; only for
//         a per-tensor layout (one scale); may be null;
//   clipped  an int32 flag, zeroed by the caller, set to 1 when any element's mask is 0, so the
//         backward can skip the mask where nothing clipped (apply_ste_mask_in_place); may be
//         null.
// Elements go four at a time (16-byte loads) where the pointers allow. Values, masks and amax are
// bit-identical to fake_quant.h + a cast + range.h's abs_max (NaN payloads aside: a NaN stays NaN,
// but CUDA's arithmetic does not keep x86's payloads).
#include <cstdint>

#include "ops/dtype.h"
#include "ops/quant/fp8.h"
#include "ops/quant/quant_spec.h"

namespace octet::cuda {

struct FakeQuantOutputs {
  void* y = nullptr;
  DType y_dtype = DType::f32;  // f32 or bf16
  uint8_t* mask = nullptr;
  float* amax = nullptr;  // one float on the device
  int32_t* clipped = nullptr;
};

// fake_quant_fp8 (fake_quant.h) with the outputs above.
void fake_quant_fp8_fused(const float* x, int64_t n, const quant::ScaleLayout& layout,
                          const float* scale, quant::Fp8Format format, bool saturate,
                          const FakeQuantOutputs& out, int device);

// fake_quant_int (fake_quant.h, f32) with the outputs above; zero_point may be null.
void fake_quant_int_fused(const float* x, int64_t n, const quant::ScaleLayout& layout,
                          const float* scale, const float* zero_point, int64_t qmin, int64_t qmax,
                          const FakeQuantOutputs& out, int device);

// The STE mask applied in place, g[i] = mask[i] ? g[i] : 0, only when *clipped (read on the
// device, so the host never waits for it): with delayed scaling almost no step clips, and then
// the backward pass costs nothing. g: f32 on `device`, owned by the caller alone.
void apply_ste_mask_in_place(float* g, const uint8_t* mask, int64_t n, const int32_t* clipped,
                             int device);

}  // namespace octet::cuda
