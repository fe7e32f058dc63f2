#pragma once
// The cuBLASLt plumbing shared by gemm.cpp and qgemm.cpp: one handle and one workspace per
// device, and one call that runs a GEMM described in cuBLASLt's own (column-major) terms, taking
// its algorithm from a cache keyed by everything the heuristic looks at. Includes CUDA headers:
// for ops/cuda/*.cpp only (framework/ sees gemm.h and qgemm.h), so it has no without_cuda twin.
#include <cstddef>
#include <cstdint>

#include "ops/cuda/check.h"

namespace octet::cuda::lt {

// One matrix as cuBLASLt sees it: column-major rows x cols with leading dimension ld (elements),
// `batch` matrices batch_stride elements apart (0: the same matrix for every batch).
struct Layout {
  cudaDataType_t type = CUDA_R_32F;
  int64_t rows = 0, cols = 0, ld = 0;
  int64_t batch = 1, batch_stride = 0;
};

// D = act(alpha * op(A) op(B) (+ beta * C) (+ bias over D's rows)), C and D the same buffer.
// a_scale / b_scale: device pointers to f32 multipliers of A and B (FP8 only), or null; d_scale
// multiplies the result before it is stored as FP8 (D = e4m3 / e5m2). alpha_vector: a device f32
// vector of d.rows alphas, one per row of D (CUBLASLT_POINTER_MODE_ALPHA_DEVICE_VECTOR_BETA_ZERO;
// accumulate must be false then).
struct Gemm {
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  cudaDataType_t scale_type = CUDA_R_32F;  // type of alpha and beta (host values)
  cublasOperation_t trans_a = CUBLAS_OP_N, trans_b = CUBLAS_OP_N;
  Layout a, b, d;
  const void* a_ptr = nullptr;
  const void* b_ptr = nullptr;
  void* d_ptr = nullptr;
  const void* bias = nullptr;  // length d.rows, D's element type; enables the BIAS epilogue
  int bias_type = -1;          // a cudaDataType_t when the bias is not D's type (the rules'
                               // exceptions: f32 for IMMA with int8 D, bf16 for FP8 D)
  bool gelu = false;           // GELU (tanh form) after the bias: the GELU / GELU_BIAS epilogues
  int c_type = -1;             // a cudaDataType_t when C is not D's type (FP8 D takes a bf16 C)
  const void* d_scale = nullptr;
  const void* alpha_vector = nullptr;
  // C's own buffer (unread, beta = 0) when C's type is not D's: cuBLASLt refuses a C that aliases
  // D under another layout (CUBLAS_STATUS_INVALID_VALUE, seen on an H100 with FP8 D).
  const void* c_ptr = nullptr;
  const void* a_scale = nullptr;
  const void* b_scale = nullptr;
  bool accumulate = false;  // beta = 1, else 0
  int device = 0;
};

// Runs the GEMM on the device's octet stream. `op` names the caller in errors (no algorithm for
// this problem, or a cuBLASLt failure).
void run(const Gemm& g, const char* op);

// Number of cached heuristic results (all GEMM kinds together).
size_t cache_size();

// Largest power of two (<= 256) dividing the address and, for batched operands, the batch stride
// in bytes: what cuBLASLt's MIN_ALIGNMENT preferences must be told, since they default to 256 and
// an algorithm chosen for 256-byte alignment may read a less aligned view wrongly.
uint32_t alignment(const void* ptr, int64_t batch, int64_t batch_stride_bytes);

}  // namespace octet::cuda::lt
