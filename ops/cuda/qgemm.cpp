// INT8 and FP8 GEMMs on cuBLASLt. Like gemm.cpp, row-major y = a @ w^T is run column-major as
// y^T = w @ a^T: cuBLASLt's "A" is w's storage read transposed (op T) and its "B" is a's storage
// as it is (op N), the TN layout that IMMA (CUBLASLT_ORDER_COL, sm_80+) and FP8 kernels require.
#include "ops/cuda/qgemm.h"

#include <string>

#include "ops/cuda/check.h"
#include "ops/cuda/copy.h"
#include "ops/cuda/gemm_kernels.h"
#include "ops/cuda/lt.h"
#include "ops/cuda/qgemm_checks.h"
#include "ops/cuda/qgemm_epilogue.h"

namespace octet::cuda {
namespace {

using namespace qgemm_checks;

constexpr const char* kInt8 = "int8_gemm";
constexpr const char* kFp8 = "fp8_gemm";

detail::StridedMatrix strided(const Rows& r) {
  detail::StridedMatrix m;
  m.data = r.data;
  m.rows = r.rows, m.cols = r.cols, m.sr = r.ld, m.sc = 1;
  return m;
}

cudaDataType_t fp8_type(DType t) { return t == DType::f8e4m3 ? CUDA_R_8F_E4M3 : CUDA_R_8F_E5M2; }

}  // namespace

// ---- INT8 ----

void int8_matmul(const View& a_view, const View& w_view, const View& acc_view) {
  const Device device = acc_view.device;
  OCTET_CHECK(device.type == DeviceType::cuda, kInt8, "acc is on ", device.str(),
              ", expected a CUDA device");
  require(device, kInt8);
  const char* rule = "cuBLASLt IMMA needs it a multiple of 4";
  const Rows a = rows_of(kInt8, "a", a_view, DType::i8, device, 4);
  const Rows w = rows_of(kInt8, "w", w_view, DType::i8, device, 4);
  const Rows acc = rows_of(kInt8, "acc", acc_view, DType::i32, device, 4);
  const int64_t M = a.rows, K = a.cols, N = w.rows;
  OCTET_CHECK(w.cols == K, kInt8, "k mismatch: a ", shape_str(a_view.shape), " against w ",
              shape_str(w_view.shape), " (w is [n, k])");
  OCTET_CHECK(acc.rows == M && acc.cols == N, kInt8, "acc ", shape_str(acc_view.shape),
              " does not match a ", shape_str(a_view.shape), " @ w^T ", shape_str(w_view.shape),
              ": expected [", M, ", ", N, "]");
  // |a * w| <= 128 * 128 = 2^14, so K < 2^17 products sum exactly in int32.
  OCTET_CHECK(K < (int64_t{1} << 17), kInt8, "k = ", K,
              " reaches 2^17, beyond which int32 accumulators of int8 products can overflow");
  if (M == 0 || N == 0) return;
  if (K == 0) {
    fill(acc_view, 0.0);
    return;
  }
  OCTET_CHECK(K % 4 == 0, kInt8, "k = ", K, " is not a multiple of 4 (", rule,
              "); pad the inner dimension with zero codes");
  OCTET_CHECK(a.ld % 4 == 0, kInt8, "a's row stride ", a.ld, " is not a multiple of 4 (", rule,
              ")");
  OCTET_CHECK(w.ld % 4 == 0, kInt8, "w's row stride ", w.ld, " is not a multiple of 4 (", rule,
              ")");
  OCTET_CHECK(acc.ld % 4 == 0, kInt8, "acc's row stride ", acc.ld, " is not a multiple of 4 (",
              rule, ")");
  check_aligned(kInt8, "a", a.data, 4, "cuBLASLt IMMA");
  check_aligned(kInt8, "w", w.data, 4, "cuBLASLt IMMA");
  check_aligned(kInt8, "acc", acc.data, 4, "cuBLASLt IMMA");

  lt::Gemm g;
  g.device = device.index;
  g.compute = CUBLAS_COMPUTE_32I;
  g.scale_type = CUDA_R_32I;
  g.trans_a = CUBLAS_OP_T;  // w [N, K] row-major = column-major K x N; op T gives N x K
  g.trans_b = CUBLAS_OP_N;  // a [M, K] row-major = column-major K x M
  g.a = {CUDA_R_8I, K, N, w.ld, 1, 0};
  g.b = {CUDA_R_8I, K, M, a.ld, 1, 0};
  g.d = {CUDA_R_32I, N, M, acc.ld, 1, 0};
  g.a_ptr = w.data, g.b_ptr = a.data, g.d_ptr = acc.data;
  lt::run(g, kInt8);
}

void int8_dequantize(const View& acc_view, const View& a_scales, const View& w_scales,
                     const View* bias, const View& y_view) {
  const Device device = y_view.device;
  OCTET_CHECK(device.type == DeviceType::cuda, kInt8, "y is on ", device.str(),
              ", expected a CUDA device");
  require(device, kInt8);
  const Rows acc = rows_of(kInt8, "acc", acc_view, DType::i32, device, 1);
  const Rows y = rows_of(kInt8, "y", y_view, DType::f32, device, 1);
  OCTET_CHECK(y.rows == acc.rows && y.cols == acc.cols, kInt8, "y ", shape_str(y_view.shape),
              " does not match acc ", shape_str(acc_view.shape));
  const int64_t M = acc.rows, N = acc.cols;
  const int64_t a_step = scale_step(kInt8, "a_scales", a_scales, M, device);
  const int64_t w_step = scale_step(kInt8, "w_scales", w_scales, N, device);
  check_bias(kInt8, bias, DType::f32, N, device);
  if (M == 0 || N == 0) return;
  detail::int8_dequantize(static_cast<const int32_t*>(acc.data), acc.ld,
                          static_cast<const float*>(a_scales.data), a_step,
                          static_cast<const float*>(w_scales.data), w_step,
                          bias ? static_cast<const float*>(bias->data) : nullptr,
                          static_cast<float*>(y.data), y.ld, M, N, device.index);
}

void int8_gemm(const View& a, const View& a_scales, const View& w, const View& w_scales,
               const View* bias, const View& y) {
  OCTET_CHECK(a.dim() == 2 && w.dim() == 2, kInt8, "a and w must be 2-D, got ", described("a", a),
              " and ", described("w", w));
  const int64_t M = a.shape[0], N = w.shape[0];
  OCTET_CHECK(y.device.type == DeviceType::cuda, kInt8, "y is on ", y.device.str(),
              ", expected a CUDA device");
  require(y.device, kInt8);
  // Scales and bias are checked before any kernel runs, so a bad call leaves y untouched.
  scale_step(kInt8, "a_scales", a_scales, M, y.device);
  scale_step(kInt8, "w_scales", w_scales, N, y.device);
  check_bias(kInt8, bias, DType::f32, N, y.device);
  if (M == 0 || N == 0) {
    rows_of(kInt8, "y", y, DType::f32, y.device, 1);
    return;
  }
  const int64_t ld = (N + 3) / 4 * 4;  // IMMA wants the accumulators' row stride a multiple of 4
  DeviceBuffer scratch(static_cast<size_t>(M * ld) * sizeof(int32_t), y.device.index);
  const View acc{scratch.get(), DType::i32, y.device, {M, N}, {ld, 1}};
  int8_matmul(a, w, acc);
  int8_dequantize(acc, a_scales, w_scales, bias, y);
}

// ---- FP8 ----

bool has_fp8(int device) {
  require(Device{DeviceType::cuda, device}, kFp8);
  int major = 0, minor = 0;
  OCTET_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  OCTET_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  return major * 10 + minor >= 89;
}

namespace {

// cuBLASLt has no FP8 algorithm when n is not a multiple of 16 (seen on an H100 with cuBLASLt
// 13.1 at n = 33; PyTorch's _scaled_mm demands the same). Such a call runs on copies padded to
// n16 outputs: zero weight rows, unit scales and zero biases in the padding, whose outputs are
// dropped. The arguments have been checked by fp8_gemm.
void fp8_gemm_padded(const View& a, const View& a_scale, const View& w, const View& w_scale,
                     const View* bias, const View& y, int64_t n16) {
  const Device dev = y.device;
  const int64_t M = y.shape[0], N = w.shape[0], K = w.shape[1];
  auto bytes_of = [](const View& v, int64_t rows, int64_t cols) {
    // The same memory as `v` seen as bytes: copy and fill need not know the 8-bit formats.
    const int64_t e = static_cast<int64_t>(dtype_size(v.dtype));
    return View{v.data, DType::u8, v.device, {rows, cols * e}, {v.strides[0] * e, 1}};
  };
  DeviceBuffer w_pad(static_cast<size_t>(n16 * K), dev.index);
  const View wp{w_pad.get(), w.dtype, dev, {n16, K}, {K, 1}};
  fill(bytes_of(wp, n16, K), 0.0);
  copy(bytes_of(w, N, K), bytes_of(View{wp.data, w.dtype, dev, {N, K}, {K, 1}}, N, K));

  auto padded_vector = [&](const View& v, double pad, DeviceBuffer& storage) {
    const View out{storage.get(), v.dtype, dev, {n16}, {1}};
    fill(out, pad);
    copy(v, View{out.data, v.dtype, dev, {N}, {1}});
    return out;
  };
  const bool per_channel = w_scale.numel() > 1;
  DeviceBuffer s_pad(per_channel ? static_cast<size_t>(n16) * sizeof(float) : 0, dev.index);
  const View sp = per_channel ? padded_vector(w_scale, 1.0, s_pad) : w_scale;
  DeviceBuffer b_pad(bias ? static_cast<size_t>(n16) * dtype_size(bias->dtype) : 0, dev.index);
  View bp;
  if (bias) bp = padded_vector(*bias, 0.0, b_pad);

  DeviceBuffer y_pad(static_cast<size_t>(M * n16) * dtype_size(y.dtype), dev.index);
  const View yp{y_pad.get(), y.dtype, dev, {M, n16}, {n16, 1}};
  fp8_gemm(a, a_scale, wp, sp, bias ? &bp : nullptr, yp);
  copy(View{yp.data, y.dtype, dev, {M, N}, {n16, 1}}, y);
}

}  // namespace

void fp8_gemm(const View& a_view, const View& a_scale, const View& w_view, const View& w_scale,
              const View* bias, const View& y_view) {
  const Device device = y_view.device;
  OCTET_CHECK(device.type == DeviceType::cuda, kFp8, "y is on ", device.str(),
              ", expected a CUDA device");
  if (!has_fp8(device.index)) {
    int major = 0, minor = 0;
    OCTET_CUDA_CHECK(
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device.index));
    OCTET_CUDA_CHECK(
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device.index));
    throw Error(kFp8, octet::detail::concat("needs compute capability 8.9+, ", device.str(), " is ",
                                            major, ".", minor));
  }
  auto is_fp8 = [](DType t) { return t == DType::f8e4m3 || t == DType::f8e5m2; };
  OCTET_CHECK(is_fp8(a_view.dtype) && is_fp8(w_view.dtype), kFp8,
              "a and w must hold f8e4m3 or f8e5m2 codes, got ", dtype_name(a_view.dtype), " and ",
              dtype_name(w_view.dtype));
  OCTET_CHECK(!(a_view.dtype == DType::f8e5m2 && w_view.dtype == DType::f8e5m2), kFp8,
              "e5m2 x e5m2 has no cuBLASLt kernel; one operand must be e4m3");
  OCTET_CHECK(y_view.dtype == DType::f32 || y_view.dtype == DType::bf16, kFp8,
              "y must be f32 or bf16, got ", dtype_name(y_view.dtype));
  const Rows a = rows_of(kFp8, "a", a_view, a_view.dtype, device, 16);
  const Rows w = rows_of(kFp8, "w", w_view, w_view.dtype, device, 16);
  const int64_t y_step = 16 / static_cast<int64_t>(dtype_size(y_view.dtype));
  const Rows y = rows_of(kFp8, "y", y_view, y_view.dtype, device, y_step);
  const int64_t M = a.rows, K = a.cols, N = w.rows;
  OCTET_CHECK(w.cols == K, kFp8, "k mismatch: a ", shape_str(a_view.shape), " against w ",
              shape_str(w_view.shape), " (w is [n, k])");
  OCTET_CHECK(y.rows == M && y.cols == N, kFp8, "y ", shape_str(y_view.shape), " does not match a ",
              shape_str(a_view.shape), " @ w^T ", shape_str(w_view.shape), ": expected [", M, ", ",
              N, "]");
  scale_step(kFp8, "a_scale", a_scale, 1, device);
  const bool per_channel = scale_step(kFp8, "w_scale", w_scale, N, device) == 1;
  OCTET_CHECK(!per_channel || y_view.dtype == DType::f32, kFp8,
              "per-channel weight scales need an f32 output (they are applied after the GEMM)");
  check_bias(kFp8, bias, y_view.dtype, N, device);
  if (M == 0 || N == 0) return;
  const void* bias_data = bias ? bias->data : nullptr;
  if (K == 0) {
    detail::fill_empty_product(strided(y), y_view.dtype, bias_data, false, device.index);
    return;
  }
  const char* rule = "cuBLASLt FP8 needs it a multiple of 16";
  OCTET_CHECK(K % 16 == 0, kFp8, "k = ", K, " is not a multiple of 16 (", rule,
              "); pad the inner dimension with zero codes");
  OCTET_CHECK(a.ld % 16 == 0, kFp8, "a's row stride ", a.ld, " is not a multiple of 16 (", rule,
              ")");
  OCTET_CHECK(w.ld % 16 == 0, kFp8, "w's row stride ", w.ld, " is not a multiple of 16 (", rule,
              ")");
  check_aligned(kFp8, "a", a.data, 16, "cuBLASLt FP8");
  if (N % 16 != 0) {  // y is written by a copy then, so its own layout needs no checks
    fp8_gemm_padded(a_view, a_scale, w_view, w_scale, bias, y_view, (N + 15) / 16 * 16);
    return;
  }
  OCTET_CHECK(y.ld % y_step == 0, kFp8, "y's row stride ", y.ld, " is not a multiple of 16 bytes");
  check_aligned(kFp8, "w", w.data, 16, "cuBLASLt FP8");
  check_aligned(kFp8, "y", y.data, 16, "cuBLASLt FP8");

  // 1 / s_a and 1 / s_w (per tensor): QuantSpec scales turned into cuBLASLt's. Each sits at the
  // start of its own 256-byte slot: with a scale pointer only 4-byte aligned, every FP8 algorithm
  // the heuristic offers fails with CUBLAS_STATUS_NOT_SUPPORTED (seen on an H100, cuBLASLt 13.1).
  constexpr size_t kSlot = 256;
  DeviceBuffer inv(2 * kSlot, device.index);
  float* inv_a = static_cast<float*>(inv.get());
  float* inv_w = static_cast<float*>(static_cast<void*>(static_cast<char*>(inv.get()) + kSlot));
  detail::reciprocal_scales(static_cast<const float*>(a_scale.data),
                            per_channel ? nullptr : static_cast<const float*>(w_scale.data), inv_a,
                            inv_w, device.index);
  lt::Gemm g;
  g.device = device.index;
  g.compute = CUBLAS_COMPUTE_32F;
  g.scale_type = CUDA_R_32F;
  g.trans_a = CUBLAS_OP_T;
  g.trans_b = CUBLAS_OP_N;
  g.a = {fp8_type(w_view.dtype), K, N, w.ld, 1, 0};
  g.b = {fp8_type(a_view.dtype), K, M, a.ld, 1, 0};
  g.d = {y_view.dtype == DType::f32 ? CUDA_R_32F : CUDA_R_16BF, N, M, y.ld, 1, 0};
  g.a_ptr = w.data, g.b_ptr = a.data, g.d_ptr = y.data;
  g.a_scale = per_channel ? nullptr : inv_w;
  g.b_scale = inv_a;
  // cuBLASLt's FP8 kernels with f32 output take the bias in a narrower type than f32 (an exception
  // noted at CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE), which would round the CPU's f32 bias: with f32
  // output the bias, like per-channel weight scales, is applied by fp8_epilogue instead.
  const bool lt_bias = y_view.dtype == DType::bf16;
  g.bias = lt_bias ? bias_data : nullptr;
  lt::run(g, kFp8);
  if (y_view.dtype == DType::f32)
    detail::fp8_epilogue(static_cast<float*>(y.data), y.ld, M, N,
                         per_channel ? static_cast<const float*>(w_scale.data) : nullptr,
                         static_cast<const float*>(bias_data), device.index);
}

}  // namespace octet::cuda
