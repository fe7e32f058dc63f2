#pragma once
// Matrix products: oneDNN on a CPU, cuBLASLt on a GPU (f32, bf16 under autocast), a plain f64
// loop for gradcheck.
#include "framework/tensor/tensor.h"

namespace octet {

// a [..., M, K] @ b [K, N] -> [..., M, N], or batched a [B..., M, K] @ b [B..., K, N].
Tensor matmul(const Tensor& a, const Tensor& b);
// y = x @ weight^T + bias: x [..., in], weight [out, in], bias [out] or undefined. Under autocast
// (framework/autocast.h) x and weight may each be f32 or already bf16; the output, the bias and
// all gradients are f32.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace octet
