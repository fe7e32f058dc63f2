#pragma once
// A deployed linear layer on a CUDA device: the GPU twin of LinearOp::forward for the kinds the
// backend's GEMMs take. The weights are uploaded once; forward() takes device pointers and runs
// on the device's octet stream (ops/cuda/runtime.h), asynchronously unless noted.
//
//   kInt8   input quantized on the device (per-tensor static scale, or per-tensor / per-token
//           scales computed from each input with the CPU's own rule), then cuda::int8_gemm: exact
//           int32 sums on IMMA and the CPU's epilogue formula, so y equals LinearOp::forward's
//   kFp8    input encoded on the device with the stored (or computed) per-tensor scale, then
//           cuda::fp8_gemm (f32 accumulation on FP8 tensor cores, sm_89+)
//   kF32    cuda::matmul in f32 (no TF32 unless cuda::set_allow_tf32), or with bf16 operands
//           (f32 accumulation and output) when CudaLinearOptions::bf16: the baseline quantized
//           layers are measured against
//
// Anything else (weight-only, LLM.int8(), emulated layers, and int8 inputs with a zero point or
// unsigned codes, which IMMA's symmetric s8 GEMM does not take) is refused when the CudaLinear is
// made: "[cuda_linear] layer 'fc': weight-only int8 layers are not on the GPU yet". cuBLASLt's
// alignment rules are checked then too (in_features a multiple of 4 for int8, of 16 for FP8);
// nothing is padded.
//
// Dynamic scales (ScaleSource::kCurrent) bring each scale group's range to the host, apply the
// CPU's rule there (quant::int_qparams / fp8_scale: bit-identical scales) and send the scales
// back: two small copies that wait for the stream, as the CPU path also computes them on the host.
//
// bf16 activations (forward_bf16), the way a GPU inference runtime deploys the layers: x and y
// are bf16 rows and everything after the GEMM is fused into one pass (bias, optional GELU, store):
//   kF32 (bf16 weights)  one cuBLASLt bf16 GEMM with the bias (rounded to bf16) and GELU in its
//                        epilogue: the BF16 baseline
//   kFp8                 x -> E4M3/E5M2 in one pass with the stored scale, one cuBLASLt FP8 GEMM
//                        with scale pointers and the bias (bf16) and GELU in its epilogue
//   kInt8                x -> s8 in one pass with the stored scale, IMMA into int32, one fused
//                        epilogue (scales, f32 bias, GELU) -> bf16
// and, where the next layer is of the same kind with a stored per-tensor input scale, straight to
// that layer's input codes (Bf16Call::codes_for), which it then reads without quantizing
// (Bf16Call::input_codes). Layers with scales computed per input, and FP8 layers with per-channel
// weight scales, do not take this path ("[cuda_linear] ... bf16 activations need ...").
//
// Without the CUDA backend this compiles and every call that needs a device throws "[op] octet
// was built without CUDA".
#include <cstdint>
#include <memory>
#include <string>

#include "ops/cuda/qgemm.h"
#include "runtime/linear_op.h"

namespace octet::runtime {

struct CudaLinearOptions {
  int device = 0;     // CUDA device index
  bool bf16 = false;  // kF32 layers: bf16 operands (weights kept in bf16, x cast per call)
  // kInt8 layers emitting the next layer's codes without activation: cuBLASLt's requantizing
  // IMMA epilogue instead of IMMA + the fused kernel (cuda::LinearEpilogue::lt_requant).
  bool int8_lt_requant = false;
};

class CudaLinear;

// How one forward_bf16 call reads x and writes y.
struct Bf16Call {
  cuda::Activation activation = cuda::Activation::kNone;  // after the bias
  // x holds this layer's input codes (i8, or its FP8 format), made with its stored scale: what a
  // previous layer's forward_bf16 wrote with codes_for = this layer.
  bool input_codes = false;
  // y receives codes_for's input codes instead of bf16: codes_for is of this layer's kind (int8
  // or fp8, E4M3 saturating for fp8) with a stored per-tensor input scale and in = this out.
  const CudaLinear* codes_for = nullptr;
};

class CudaLinear {
 public:
  CudaLinear();
  // The loaded layer `op`, uploaded to options.device. Throws for kinds not on the GPU (above).
  explicit CudaLinear(const LinearOp& op, CudaLinearOptions options = {});
  // From parts directly (benchmarks build random ones): the same checks and upload.
  explicit CudaLinear(const LinearOp::Parts& parts, CudaLinearOptions options = {});
  ~CudaLinear();
  CudaLinear(CudaLinear&&) noexcept;
  CudaLinear& operator=(CudaLinear&&) noexcept;

  // y [m, out] = x [m, in] W^T + b: x and y contiguous f32 rows in the device's memory (y 16-byte
  // aligned for FP8, as cuBLASLt's FP8 output requires). Scratch comes from the caching allocator.
  void forward(const float* x, int64_t m, float* y) const;

  // y [m, out] = act(x [m, in] W^T + b) on bf16 activations (above): x bf16 rows (or codes), y
  // bf16 rows (or the next layer's codes), contiguous device memory; FP8 layers want x, y
  // 16-byte aligned and out a multiple of 16 (cuBLASLt's FP8 rules: clear errors otherwise).
  void forward_bf16(const void* x, int64_t m, void* y, const Bf16Call& call = {}) const;
  // Whether the layer reads input codes: int8 or fp8 with a stored per-tensor input scale.
  bool takes_codes() const;
  // kFp8: whether codes out come from cuBLASLt's FP8 output (true until cuBLASLt refuses it for
  // this layer; from then on a bf16 store and a quantize pass make them).
  bool fp8_codes_in_gemm() const;

  int64_t in_features() const;
  int64_t out_features() const;
  LinearKind kind() const;
  int device() const;
  std::string describe() const;  // "int8 GEMM on cuda:0: weight ..., input ..."

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// "f32", "int8", "fp8", "weight-only int8", "llm.int8", "emulated": for messages.
const char* linear_kind_name(LinearKind kind);

}  // namespace octet::runtime
