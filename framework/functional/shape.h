#pragma once
// Joining, splitting and indexing (the view ops themselves are Tensor methods, defined in
// shape.cpp next to these).
#include <vector>

#include "framework/tensor/tensor.h"

namespace octet {

Tensor concat(const std::vector<Tensor>& parts, int64_t dim);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);
// torch.gather: out[i][j] = x[i][index[i][j]] for dim 1, and so on.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);

}  // namespace octet
