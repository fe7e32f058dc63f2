#pragma once
// The CUDA GEMM that matmul and linear take on a GPU: the twin of ops/cpu/gemm.h, with the same
// View conventions. f32 and bf16 run on cuBLASLt (the algorithm chosen once per shape/stride
// signature and cached); f64 runs a plain kernel that exists for gradcheck.
#include <cstddef>
#include <functional>

#include "ops/view.h"

namespace octet::cuda {

// c = a @ b (+ bias broadcast over rows) (+ c if accumulate), batched; exactly cpu::matmul's
// meaning. a: [M,K] or [B,M,K]; b: [K,N] or [B,K,N] or [1,K,N]; c: [M,N] or [B,M,N]; a batch of
// 1 or a batch stride of 0 broadcasts. f32/bf16: each 2-D matrix of a and b needs one unit stride
// (row-major, or a transposed view) and c a unit column stride; f64 takes any strides.
// bias: nullptr or a contiguous [N] vector of c's dtype. All views on one CUDA device.
// dtypes: (f32,f32)->f32, (bf16,bf16)->f32, (bf16,bf16)->bf16, (f64,f64)->f64.
// Runs asynchronously on the device's octet stream.
void matmul(const View& a, const View& b, const View& c, const View* bias = nullptr,
            bool accumulate = false);

// f32 GEMMs compute in full FP32 by default, so they match the CPU to f32 rounding; allowing TF32
// (10-bit mantissa products, several times faster on tensor cores) is a process-wide opt-in.
void set_allow_tf32(bool allow);
bool allow_tf32();

// Number of cuBLASLt heuristic results cached so far (matmul and the quantized GEMMs of qgemm.h
// together); a repeated shape reuses its entry.
size_t matmul_cache_size();

// Milliseconds per call of work(), which must enqueue onto the device's octet stream, measured
// with CUDA events around `repeats` back-to-back calls after `warmup` untimed ones (for benches).
double time_ms(int device, const std::function<void()>& work, int warmup, int repeats);

}  // namespace octet::cuda
