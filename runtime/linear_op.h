#pragma once
// One linear map of a deployed model, y = x W^T + b, computed the way the model file says: the
// kernel is chosen once at load from the layer's QuantSpecs, and forward() only runs it.
//
//   f32          W kept in the file's mapping (zero copy), oneDNN f32 GEMM
//   int8         int8 weights (int4/ternary codes fit too) and int8/uint8 inputs quantized with the
//                stored per-tensor scale or from each input (per tensor or per token): exact
//                int32 GEMM + one f32 epilogue
//   fp8          E4M3/E5M2 weights and per-tensor FP8 inputs (table-decoded, see ops/quant/qgemm.h)
//   weight-only  int8 weights, f32 inputs
//   llm.int8     outlier columns in f32, the rest int8 per token, summed
//   emulated     anything the integer kernels cannot factor (per-group weights, affine weights,
//                per-channel or per-token affine inputs): the input is fake-quantized with the
//                same ops/quant arithmetic and multiplied in f32 with the dequantized weight, so
//                the numbers are still the trained model's; describe() says "emulated"
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ops/quant/quant_spec.h"
#include "ops/view.h"
#include "runtime/model_file.h"

namespace octet::runtime {

enum class LinearKind { kF32, kInt8, kFp8, kWeightOnly, kLlmInt8, kEmulated };

struct LinearLoadOptions {
  // The caller has already fake-quantized the input (with ActivationQuantizer::fake_quantize, for
  // a convolution whose input granularity is not per tensor): skip input quantization and run
  // the weights weight-only.
  bool input_prequantized = false;
};

class LinearOp {
 public:
  LinearOp() = default;
  // The layer `name` of `file`: quantized if the file lists it, else f32 "<name>.weight" (and
  // "<name>.bias" when `bias`). weight_shape is what the architecture expects ([out, in] for a
  // linear layer, [out, in, kh, kw] for a convolution, whose trailing dims flatten into in).
  static LinearOp load(const ModelFile& file, const std::string& name, const Shape& weight_shape,
                       bool bias, LinearLoadOptions options = {});

  // y [m, out] = x [m, in] W^T + b; x and y are contiguous rows. Safe to call from several
  // threads at once (scratch space is per thread).
  void forward(const float* x, int64_t m, float* y) const;
  int64_t in_features() const;
  int64_t out_features() const;
  LinearKind kind() const;
  // True when the input scale is computed from the whole input (per-tensor current scaling), so
  // splitting a batch into several calls would change the numbers.
  bool input_scale_from_batch() const;
  std::string describe() const;   // "int8 w[int8 sym ...] x[...]", for logs and inspect
  size_t resident_bytes() const;  // memory this layer holds outside the file mapping

  // What the layer is made of, for engines that run it elsewhere (runtime/cuda_linear.h copies
  // these to a GPU). Pointers point into the model file's mapping or this op's own memory and stay
  // valid while both live.
  struct Parts {
    LinearKind kind = LinearKind::kF32;
    std::string name;
    int64_t in = 0, out = 0;
    const float* weight = nullptr;  // f32 [out, in]: kF32, and kEmulated's dequantized weight
    // [out, in] codes as stored: int8 for kInt8 / kWeightOnly, FP8 bytes for kFp8 (else null)
    const void* weight_codes = nullptr;
    quant::QuantSpec weight_spec;      // of weight_codes
    std::vector<float> weight_scales;  // of weight_codes: 1 (per tensor) or out (per channel)
    const float* bias = nullptr;       // f32 [out], or null
    bool input_quantized = false;      // false: the input stays f32
    quant::QuantSpec input_spec;       // when input_quantized
    // The stored (static) input scales; empty when each input's scales are computed from it.
    std::vector<float> input_scales;
  };
  Parts parts() const;

 private:
  struct Impl;
  explicit LinearOp(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Sees every linear layer's input x [m, in] and output y [m, out] right after forward() computed
// them (a convolution's x is its im2row matrix, so y = x W^T + b holds for both). For the
// post-export check, which compares each layer with its f32 original on real activations.
using LayerTap = std::function<void(const std::string& name, const float* x, int64_t m, int64_t in,
                                    const float* y, int64_t out)>;
// Installs `tap` for forward() calls made by the calling thread; an empty function removes it.
void set_layer_tap(LayerTap tap);

}  // namespace octet::runtime
