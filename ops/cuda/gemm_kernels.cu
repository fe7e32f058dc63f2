#include "ops/cuda/check.h"
#include "ops/cuda/gemm_kernels.h"
#include "ops/cuda/indexing.cuh"

namespace octet::cuda::detail {
namespace {

// One thread per output: gradcheck's matrices are tiny, and a plain loop over k in order keeps
// the sum's order that of the CPU's f64 path.
__global__ void matmul_f64_kernel(const double* a, const double* b, double* c, const double* bias,
                                  bool accumulate, StridedMatrix am, StridedMatrix bm,
                                  StridedMatrix cm, int64_t K) {
  const int64_t total = cm.batch * cm.rows * cm.cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t col = i % cm.cols, row = (i / cm.cols) % cm.rows, n = i / (cm.cols * cm.rows);
    const double* arow = a + n * am.sb + row * am.sr;
    const double* bcol = b + n * bm.sb + col * bm.sc;
    double acc = 0;
    for (int64_t k = 0; k < K; ++k) acc += arow[k * am.sc] * bcol[k * bm.sr];
    if (bias) acc += bias[col];
    double& out = c[n * cm.sb + row * cm.sr + col * cm.sc];
    out = accumulate ? acc + out : acc;
  }
}

template <typename T>
__device__ float load(const T* p, int64_t i);
template <>
__device__ float load<float>(const float* p, int64_t i) {
  return p[i];
}
template <>
__device__ float load<uint16_t>(const uint16_t* p, int64_t i) {
  return bf16_bits_to_f32(p[i]);
}
__device__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ void store(uint16_t* p, int64_t i, float v) { p[i] = f32_to_bf16_bits(v); }

template <typename T>
__global__ void empty_product_kernel(T* c, const T* bias, bool accumulate, StridedMatrix cm) {
  const int64_t total = cm.batch * cm.rows * cm.cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t col = i % cm.cols, row = (i / cm.cols) % cm.rows, n = i / (cm.cols * cm.rows);
    const int64_t off = n * cm.sb + row * cm.sr + col;
    const float v = bias ? load(bias, col) : 0.f;
    store(c, off, accumulate ? load(c, off) + v : v);
  }
}

}  // namespace

void matmul_f64(const StridedMatrix& a, const StridedMatrix& b, const StridedMatrix& c,
                const double* bias, bool accumulate, int device) {
  const int64_t total = c.batch * c.rows * c.cols;
  if (total == 0) return;
  cudaStream_t s = stream_on(device);
  matmul_f64_kernel<<<blocks_for(total), kThreads, 0, s>>>(
      static_cast<const double*>(a.data), static_cast<const double*>(b.data),
      static_cast<double*>(c.data), bias, accumulate, a, b, c, a.cols);
  OCTET_CUDA_CHECK_LAUNCH();
}

void fill_empty_product(const StridedMatrix& c, DType dtype, const void* bias, bool accumulate,
                        int device) {
  const int64_t total = c.batch * c.rows * c.cols;
  if (total == 0) return;
  cudaStream_t s = stream_on(device);
  if (dtype == DType::bf16) {
    empty_product_kernel<<<blocks_for(total), kThreads, 0, s>>>(
        static_cast<uint16_t*>(c.data), static_cast<const uint16_t*>(bias), accumulate, c);
  } else {
    empty_product_kernel<<<blocks_for(total), kThreads, 0, s>>>(
        static_cast<float*>(c.data), static_cast<const float*>(bias), accumulate, c);
  }
  OCTET_CUDA_CHECK_LAUNCH();
}

}  // namespace octet::cuda::detail
