// cuda::matmul on cuBLASLt. cuBLASLt is column-major, octet row-major: a row-major matrix with
// leading dimension ld is, read column-major, its own transpose with the same ld. So C = A @ B is
// run as C^T = B^T @ A^T, with cuBLASLt's "A" the storage of b and its "B" the storage of a; an
// operand given as a transposed view (unit row stride) is the non-transposed matrix read
// column-major, which flips its cuBLASLt op to T instead of costing a copy.
#include "ops/cuda/gemm.h"

#include <algorithm>
#include <atomic>
#include <string>

#include "ops/cuda/check.h"
#include "ops/cuda/gemm_kernels.h"
#include "ops/cuda/lt.h"
#include "ops/matmul_shape.h"

namespace octet::cuda {
namespace {

constexpr const char* kOp = "matmul";
std::atomic<bool> g_allow_tf32{false};

using detail::StridedMatrix;

struct Matrix : StridedMatrix {
  DType dtype = DType::f32;
};

// The kernels' form of a checked operand (ops/matmul_shape.h).
Matrix to_matrix(const MatmulOperand& o) {
  Matrix m;
  m.data = o.data;
  m.dtype = o.dtype;
  m.batch = o.batch;
  m.rows = o.rows;
  m.cols = o.cols;
  m.sb = o.batch == 1 ? 0 : o.sb;  // one matrix: "broadcast" is the same thing
  m.sr = o.sr;
  m.sc = o.sc;
  return m;
}

// The stride of a size-1 dimension never matters, so give it the one a dense layout would have;
// then each matrix is row-major (unit column stride) or column-major (unit row stride) with a
// leading dimension covering the other dimension, or cuBLASLt cannot take it.
enum class Order { row, col, none };
Order normalize(Matrix& m) {
  if (m.cols == 1) m.sc = 1;
  if (m.rows == 1) m.sr = m.sc == 1 ? std::max<int64_t>(m.cols, 1) : 1;
  if (m.sc == 1 && m.sr >= std::max<int64_t>(m.cols, 1)) return Order::row;
  if (m.sr == 1 && m.sc >= std::max<int64_t>(m.rows, 1)) return Order::col;
  return Order::none;
}

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::f32:
      return CUDA_R_32F;
    case DType::bf16:
      return CUDA_R_16BF;
    default:
      throw Error(kOp, octet::detail::concat("no cuBLASLt type for ", dtype_name(t)));
  }
}

// The storage of a [rows, cols] operand as cuBLASLt's matrix holding its transpose: op N on the
// row-major storage (cols x rows, ld = sr), or op T on the column-major one (rows x cols, ld = sc).
lt::Layout transposed_operand(const Matrix& m, Order order, int64_t batch, cublasOperation_t& op) {
  lt::Layout l;
  l.type = cuda_type(m.dtype);
  if (order == Order::row) {
    op = CUBLAS_OP_N;
    l.rows = m.cols, l.cols = m.rows, l.ld = m.sr;
  } else {
    op = CUBLAS_OP_T;
    l.rows = m.rows, l.cols = m.cols, l.ld = m.sc;
  }
  l.batch = batch;
  l.batch_stride = m.sb;
  return l;
}

void run_cublaslt(const Matrix& a, Order a_order, const Matrix& b, Order b_order, const Matrix& c,
                  const void* bias, bool accumulate, int device) {
  const int64_t batch = c.batch;
  lt::Gemm g;
  g.device = device;
  g.compute = a.dtype == DType::f32 && g_allow_tf32.load() ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                           : CUBLAS_COMPUTE_32F;
  g.scale_type = CUDA_R_32F;
  // D^T [N, M] = op(b storage) [N, K] @ op(a storage) [K, M]
  g.a = transposed_operand(b, b_order, batch, g.trans_a);
  g.b = transposed_operand(a, a_order, batch, g.trans_b);
  g.d.type = cuda_type(c.dtype);
  g.d.rows = c.cols, g.d.cols = c.rows, g.d.ld = c.sr;
  g.d.batch = batch, g.d.batch_stride = c.sb;
  g.a_ptr = b.data, g.b_ptr = a.data, g.d_ptr = c.data;
  g.bias = bias;  // over D's rows = C's columns; batch stride 0 repeats it for every batch
  g.accumulate = accumulate;
  lt::run(g, kOp);
}

}  // namespace

void matmul(const View& a_view, const View& b_view, const View& c_view, const View* bias,
            bool accumulate) {
  const MatmulOperand oa = matmul_operand(kOp, a_view, "a", DeviceType::cuda),
                      ob = matmul_operand(kOp, b_view, "b", DeviceType::cuda),
                      oc = matmul_operand(kOp, c_view, "c", DeviceType::cuda);
  Matrix a = to_matrix(oa), b = to_matrix(ob), c = to_matrix(oc);
  OCTET_CHECK(a_view.device == b_view.device && a_view.device == c_view.device, kOp,
              "operands live on different devices: a ", a_view.device.str(), ", b ",
              b_view.device.str(), ", c ", c_view.device.str());
  const int device = c_view.device.index;
  require(c_view.device, kOp);
  OCTET_CHECK(a.dtype == b.dtype, kOp, "dtype mismatch: a ", dtype_name(a.dtype), " vs b ",
              dtype_name(b.dtype));
  const bool f64 = a.dtype == DType::f64 && c.dtype == DType::f64;
  const bool lt_types =
      (a.dtype == DType::f32 && c.dtype == DType::f32) ||
      (a.dtype == DType::bf16 && (c.dtype == DType::f32 || c.dtype == DType::bf16));
  OCTET_CHECK(f64 || lt_types, kOp, "unsupported dtypes: a ", dtype_name(a.dtype), " @ b ",
              dtype_name(b.dtype), " -> c ", dtype_name(c.dtype),
              "; supported are f32 @ f32 -> f32, bf16 @ bf16 -> f32 or bf16, f64 @ f64 -> f64");
  check_matmul_shapes(kOp, a_view, b_view, c_view, bias, oa, ob, oc);
  if (c.batch == 0 || c.rows == 0 || c.cols == 0) return;
  const void* bias_data = bias ? bias->data : nullptr;

  if (f64) {
    detail::matmul_f64(a, b, c, static_cast<const double*>(bias_data), accumulate, device);
    return;
  }
  OCTET_CHECK(normalize(c) == Order::row && (c.batch == 1 || c.sb > 0), kOp,
              "unsupported strides for ", strided_str("c", c_view),
              ": the output needs unit column stride, non-overlapping rows and a positive batch ",
              "stride; write into a contiguous buffer instead");
  if (a.cols == 0) {
    detail::fill_empty_product(c, c.dtype, bias_data, accumulate, device);
    return;
  }
  const Order a_order = normalize(a), b_order = normalize(b);
  OCTET_CHECK(a_order != Order::none && a.sb >= 0, kOp, "unsupported strides for ",
              strided_str("a", a_view),
              ": each matrix needs a unit row or column stride, a leading dimension covering the ",
              "other one and a non-negative batch stride; make it contiguous first");
  OCTET_CHECK(b_order != Order::none && b.sb >= 0, kOp, "unsupported strides for ",
              strided_str("b", b_view),
              ": each matrix needs a unit row or column stride, a leading dimension covering the ",
              "other one and a non-negative batch stride; make it contiguous first");
  run_cublaslt(a, a_order, b, b_order, c, bias_data, accumulate, device);
}

void set_allow_tf32(bool allow) { g_allow_tf32.store(allow); }
bool allow_tf32() { return g_allow_tf32.load(); }

size_t matmul_cache_size() { return lt::cache_size(); }

double time_ms(int device, const std::function<void()>& work, int warmup, int repeats) {
  OCTET_CHECK(repeats >= 1 && warmup >= 0, "time_ms", "needs repeats >= 1 and warmup >= 0, got ",
              repeats, " and ", warmup);
  cudaStream_t s = stream_on(device);
  for (int i = 0; i < warmup; ++i) work();
  cudaEvent_t start = nullptr, stop = nullptr;
  OCTET_CUDA_CHECK(cudaEventCreate(&start));
  OCTET_CUDA_CHECK(cudaEventCreate(&stop));
  float ms = 0;
  try {
    OCTET_CUDA_CHECK(cudaEventRecord(start, s));
    for (int i = 0; i < repeats; ++i) work();
    OCTET_CUDA_CHECK(cudaEventRecord(stop, s));
    OCTET_CUDA_CHECK(cudaEventSynchronize(stop));
    OCTET_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  } catch (...) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    throw;
  }
  OCTET_CUDA_CHECK(cudaEventDestroy(start));
  OCTET_CUDA_CHECK(cudaEventDestroy(stop));
  return ms / repeats;
}

}  // namespace octet::cuda
