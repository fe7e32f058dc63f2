#pragma once
// The hand-written parts of the CUDA GEMM (gemm_kernels.cu), called by gemm.cpp only: the f64
// product for gradcheck and the K = 0 product. Internal to ops/cuda/ (nothing above calls it), so
// it has no without_cuda twin.
#include <cstdint>

#include "ops/dtype.h"

namespace octet::cuda::detail {

// Element [n, r, c] at data + n*sb + r*sr + c*sc (elements); sb = 0 repeats one matrix.
struct StridedMatrix {
  void* data = nullptr;
  int64_t batch = 1, rows = 0, cols = 0;
  int64_t sb = 0, sr = 0, sc = 0;
};

// c = a @ b (+ bias[col]) (+ c), every output summed over k in order, like cpu::matmul's f64 loop.
void matmul_f64(const StridedMatrix& a, const StridedMatrix& b, const StridedMatrix& c,
                const double* bias, bool accumulate, int device);

// The product of an empty K: c = bias (or 0), plus c when accumulating. c is f32 or bf16 with unit
// column stride; bias (may be null) has c's dtype.
void fill_empty_product(const StridedMatrix& c, DType dtype, const void* bias, bool accumulate,
                        int device);

}  // namespace octet::cuda::detail
