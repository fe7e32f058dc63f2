#pragma once
// The CPU GEMM that every matmul and linear layer goes through. f32 and bf16 run on oneDNN's matmul
// primitive (created once per shape/stride signature and cached); f64 runs a plain blocked loop
// that exists for gradcheck, where exactness matters and speed does not.
#include <cstddef>

#include "ops/view.h"

namespace octet::cpu {

// c = a @ b (+ bias broadcast over rows) (+ c if accumulate), batched.
// a: [M,K] or [B,M,K]; b: [K,N] or [B,K,N] or [1,K,N] (broadcast over batch); c: [M,N] or [B,M,N].
// A batch stride of 0 also means broadcast. For f32/bf16 each 2-D matrix of a and b needs one unit
// stride (row-major, or a transposed view such as W^T given as W's storage with strides {1, K}) and
// c needs a unit column stride; other layouts throw, and the caller must make them contiguous.
// The f64 path accepts any strides. bias: nullptr or a contiguous [N] vector of c's dtype.
// dtypes: (f32,f32)->f32, (bf16,bf16)->f32, (f64,f64)->f64.
void matmul(const View& a, const View& b, const View& c, const View* bias = nullptr,
            bool accumulate = false);

// How many threads kernels use (OpenMP). oneDNN reads the same setting, so this also sizes GEMMs.
// The setting belongs to the calling thread, as OpenMP's nthreads-var does.
void set_num_threads(int n);
int num_threads();

// True when oneDNN multiplies bf16 operands natively on this CPU (AVX512-BF16 or AMX, or its
// AVX-512 emulation); false where bf16 matmuls are widened to f32 copies first (AVX2). Lets a
// caller that holds bf16 data (FP8 weights decoded once) choose between one bf16 GEMM and
// widening a block at a time itself, which keeps no whole f32 copy of a large weight.
bool bf16_matmul_is_native();

// Number of oneDNN matmul plans created so far; lets tests check that a repeated shape reuses its
// plan instead of building a new primitive.
size_t matmul_cache_size();

}  // namespace octet::cpu
