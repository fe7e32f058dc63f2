// The fused linear layers of qgemm.h on bf16 activations: bf16_linear, fp8_linear, int8_linear.
// As in qgemm.cpp, row-major y = a @ w^T runs column-major as y^T = w @ a^T (cuBLASLt's "A" is w
// read transposed, its "B" is a as it is), so cuBLASLt's rows are y's columns: its bias and its
// per-row alpha vector run along the output channels.
#include "ops/cuda/check.h"
#include "ops/cuda/lt.h"
#include "ops/cuda/qgemm.h"
#include "ops/cuda/qgemm_checks.h"
#include "ops/cuda/qgemm_epilogue.h"
#include "ops/cuda/runtime.h"

namespace octet::cuda {
namespace {

using namespace qgemm_checks;

constexpr const char* kBf16 = "bf16_linear";
constexpr const char* kFp8 = "fp8_linear";
constexpr const char* kInt8 = "int8_linear";

// The operands of one linear call, checked: a [M, K] and w [N, K] of their types, y [M, N].
struct Problem {
  Device device;
  Rows a, w, y;
  int64_t M = 0, K = 0, N = 0;
};

Problem problem_of(const char* op, const View& a, DType a_type, const View& w, DType w_type,
                   const View& y, int64_t ld_multiple) {
  Problem p;
  p.device = y.device;
  OCTET_CHECK(p.device.type == DeviceType::cuda, op, "y is on ", p.device.str(),
              ", expected a CUDA device");
  require(p.device, op);
  p.a = rows_of(op, "a", a, a_type, p.device, ld_multiple);
  p.w = rows_of(op, "w", w, w_type, p.device, ld_multiple);
  p.y = rows_of(op, "y", y, y.dtype, p.device, ld_multiple);
  p.M = p.a.rows, p.K = p.a.cols, p.N = p.w.rows;
  OCTET_CHECK(p.w.cols == p.K, op, "k mismatch: a ", shape_str(a.shape), " against w ",
              shape_str(w.shape), " (w is [n, k])");
  OCTET_CHECK(p.y.rows == p.M && p.y.cols == p.N, op, "y ", shape_str(y.shape),
              " does not match a ", shape_str(a.shape), " @ w^T ", shape_str(w.shape),
              ": expected [", p.M, ", ", p.N, "]");
  OCTET_CHECK(p.K > 0 || p.M * p.N == 0, op, "k = 0: an empty inner dimension");
  return p;
}

void check_multiple(const char* op, const char* what, int64_t value, int64_t multiple,
                    const char* rule) {
  OCTET_CHECK(value % multiple == 0, op, what, " = ", value, " is not a multiple of ", multiple,
              " (", rule, "; octet pads nothing)");
}

// The codes output's scale: an f32 [1] on the device.
// y [M, N] = a [M, K] @ w [N, K]^T posed to column-major cuBLASLt as y^T [N, M] = w x a^T, with
// the row-major w read transposed ("TN"): the layout every linear here runs, weights first. The
// callers add their scales, bias and epilogue.
lt::Gemm tn_gemm(const Problem& p, cudaDataType_t w_type, cudaDataType_t a_type,
                 cudaDataType_t y_type, cublasComputeType_t compute) {
  lt::Gemm g;
  g.device = p.device.index;
  g.compute = compute;
  g.scale_type = CUDA_R_32F;
  g.trans_a = CUBLAS_OP_T;
  g.trans_b = CUBLAS_OP_N;
  g.a = {w_type, p.K, p.N, p.w.ld, 1, 0};
  g.b = {a_type, p.K, p.M, p.a.ld, 1, 0};
  g.d = {y_type, p.N, p.M, p.y.ld, 1, 0};
  g.a_ptr = p.w.data, g.b_ptr = p.a.data, g.d_ptr = p.y.data;
  return g;
}

const float* out_scale_of(const char* op, const LinearEpilogue& e, const Device& device) {
  scale_step(op, "out_scale", *e.out_scale, 1, device);
  return static_cast<const float*>(e.out_scale->data);
}

}  // namespace

void bf16_linear(const View& a, const View& w, const LinearEpilogue& e, const View& y) {
  OCTET_CHECK(y.dtype == DType::bf16 && !e.out_scale, kBf16,
              "y must be bf16 (no codes output), got ", dtype_name(y.dtype));
  const Problem p = problem_of(kBf16, a, DType::bf16, w, DType::bf16, y, 1);
  check_bias(kBf16, e.bias, DType::bf16, p.N, p.device);
  if (p.M == 0 || p.N == 0) return;
  lt::Gemm g = tn_gemm(p, CUDA_R_16BF, CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F);
  g.bias = e.bias ? e.bias->data : nullptr;
  g.gelu = e.activation == Activation::kGelu;
  lt::run(g, kBf16);
}

void fp8_linear(const View& a, const View& a_mul, const View& w, const View& w_mul,
                const LinearEpilogue& e, const View& y) {
  auto is_fp8 = [](DType t) { return t == DType::f8e4m3 || t == DType::f8e5m2; };
  OCTET_CHECK(
      is_fp8(a.dtype) && is_fp8(w.dtype) && !(a.dtype == DType::f8e5m2 && w.dtype == DType::f8e5m2),
      kFp8, "a and w must hold FP8 codes, not both e5m2, got ", dtype_name(a.dtype), " and ",
      dtype_name(w.dtype));
  const bool codes = e.out_scale != nullptr;
  OCTET_CHECK(codes ? y.dtype == DType::f8e4m3 : y.dtype == DType::bf16, kFp8,
              codes ? "a codes output (out_scale) must be f8e4m3, got "
                    : "y must be bf16 without out_scale, got ",
              dtype_name(y.dtype));
  const Problem p = problem_of(kFp8, a, a.dtype, w, w.dtype, y, 16);
  if (!has_fp8(p.device.index))
    throw Error(kFp8, "needs compute capability 8.9+ (" + p.device.str() + ")");
  scale_step(kFp8, "a_mul", a_mul, 1, p.device);
  scale_step(kFp8, "w_mul", w_mul, 1, p.device);
  check_bias(kFp8, e.bias, DType::bf16, p.N, p.device);
  const float* d_scale = codes ? out_scale_of(kFp8, e, p.device) : nullptr;
  if (p.M == 0 || p.N == 0) return;
  const char* rule = "cuBLASLt's FP8 rule";
  check_multiple(kFp8, "k", p.K, 16, rule);
  check_multiple(kFp8, "n", p.N, 16, rule);
  check_multiple(kFp8, "a's row stride", p.a.ld, 16, rule);
  check_multiple(kFp8, "w's row stride", p.w.ld, 16, rule);
  check_multiple(kFp8, "y's row stride (bytes)", p.y.ld * static_cast<int64_t>(dtype_size(y.dtype)),
                 16, rule);
  for (auto [name, ptr] : {std::pair{"a", p.a.data}, {"w", p.w.data}, {"y", p.y.data}})
    check_aligned(kFp8, name, ptr, 16, rule);

  auto type = [](DType t) { return t == DType::f8e4m3 ? CUDA_R_8F_E4M3 : CUDA_R_8F_E5M2; };
  lt::Gemm g = tn_gemm(p, type(w.dtype), type(a.dtype), codes ? CUDA_R_8F_E4M3 : CUDA_R_16BF,
                       CUBLAS_COMPUTE_32F);
  g.a_scale = w_mul.data;
  g.b_scale = a_mul.data;
  g.bias = e.bias ? e.bias->data : nullptr;
  g.gelu = e.activation == Activation::kGelu;
  DeviceBuffer c_buffer;
  if (codes) {
    // FP8 D: C is bf16 (unread, beta = 0, but its own buffer: cuBLASLt refuses one aliasing D
    // under another type) and the bias stays bf16, the rule's exception.
    c_buffer = DeviceBuffer(static_cast<size_t>(p.M * p.y.ld) * 2, p.device.index);
    g.c_type = CUDA_R_16BF;
    g.c_ptr = c_buffer.get();
    if (g.bias) g.bias_type = CUDA_R_16BF;
    g.d_scale = d_scale;
  }
  lt::run(g, kFp8);
}

void int8_linear(const View& a, const View& a_scales, const View& w, const View& w_scales,
                 const LinearEpilogue& e, const View& y) {
  const bool codes = e.out_scale != nullptr;
  OCTET_CHECK(codes ? y.dtype == DType::i8 : y.dtype == DType::bf16, kInt8,
              codes ? "a codes output (out_scale) must be i8, got "
                    : "y must be bf16 without out_scale, got ",
              dtype_name(y.dtype));
  OCTET_CHECK(!codes || (e.qmin >= -128 && e.qmin < e.qmax && e.qmax <= 127), kInt8,
              "codes range [", e.qmin, ", ", e.qmax, "] is not within int8");
  const Problem p = problem_of(kInt8, a, DType::i8, w, DType::i8, y, 4);
  const int64_t a_step = scale_step(kInt8, "a_scales", a_scales, p.M, p.device);
  const int64_t w_step = scale_step(kInt8, "w_scales", w_scales, p.N, p.device);
  check_bias(kInt8, e.bias, DType::f32, p.N, p.device);
  const float* out_scale = codes ? out_scale_of(kInt8, e, p.device) : nullptr;
  const bool gelu = e.activation == Activation::kGelu;
  OCTET_CHECK(!e.lt_requant || (codes && !gelu && a_step == 0), kInt8,
              "lt_requant needs codes out, no activation and a per-tensor input scale");
  if (p.M == 0 || p.N == 0) return;
  const float* bias = e.bias ? static_cast<const float*>(e.bias->data) : nullptr;
  const auto* as = static_cast<const float*>(a_scales.data);
  const auto* ws = static_cast<const float*>(w_scales.data);

  if (e.lt_requant) {
    const char* rule = "cuBLASLt's IMMA rule";
    check_multiple(kInt8, "k", p.K, 4, rule);
    check_multiple(kInt8, "a's row stride", p.a.ld, 4, rule);
    check_multiple(kInt8, "w's row stride", p.w.ld, 4, rule);
    check_multiple(kInt8, "y's row stride", p.y.ld, 4, rule);
    for (auto [name, ptr] : {std::pair{"a", p.a.data}, {"w", p.w.data}, {"y", p.y.data}})
      check_aligned(kInt8, name, ptr, 4, rule);
    // alpha [N] and bias / s [N], each starting 256 bytes apart (cuBLASLt is told the vectors'
    // alignment through its bias preference only).
    const int64_t slot = (p.N * 4 + 255) / 256 * 256;
    DeviceBuffer vectors(static_cast<size_t>(2 * slot), p.device.index);
    float* alpha = vectors.as<float>();
    float* bias_s = reinterpret_cast<float*>(vectors.as<char>() + slot);
    detail::int8_requant_vectors(as, ws, w_step, bias, out_scale, alpha, bias ? bias_s : nullptr,
                                 p.N, p.device.index);
    lt::Gemm g = tn_gemm(p, CUDA_R_8I, CUDA_R_8I, CUDA_R_8I, CUBLAS_COMPUTE_32I);
    g.alpha_vector = alpha;
    if (bias) {
      g.bias = bias_s;
      g.bias_type = CUDA_R_32F;  // IMMA with int8 C/D takes its bias in the scale type
    }
    lt::run(g, kInt8);
    return;
  }

  // The accumulators' row stride rounded up to 8 so that every row starts 16-byte aligned for the
  // epilogue's vector loads (IMMA itself needs 4).
  const int64_t ld = (p.N + 7) / 8 * 8;
  DeviceBuffer scratch(static_cast<size_t>(p.M * ld) * sizeof(int32_t), p.device.index);
  const View acc{scratch.get(), DType::i32, p.device, {p.M, p.N}, {ld, 1}};
  int8_matmul(a, w, acc);
  detail::int8_epilogue(scratch.as<int32_t>(), ld, as, a_step, ws, w_step, bias, gelu, p.y.data,
                        codes, out_scale, static_cast<float>(e.qmin), static_cast<float>(e.qmax),
                        p.y.ld, p.M, p.N, p.device.index);
}

}  // namespace octet::cuda
