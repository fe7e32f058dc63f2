#pragma once
// Matrix products on oneDNN (f32) or the f64 reference loop (gradcheck).
#include "framework/tensor/tensor.h"

namespace octet {

// a [..., M, K] @ b [K, N] -> [..., M, N], or batched a [B..., M, K] @ b [B..., K, N].
Tensor matmul(const Tensor& a, const Tensor& b);
// y = x @ weight^T + bias: x [..., in], weight [out, in], bias [out] or undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace octet
