#pragma once
// What every matmul checks before it runs, on any device: the operands' ranks, strides and
// shapes, batch agreement, the output's shape and the bias. cpu::matmul and cuda::matmul share it,
// so both accept and refuse the same calls, in the same words.
#include <string>

#include "ops/view.h"

namespace octet {

// One operand seen as a batch of 2-D matrices: element [n, r, c] lives at
// data + n*sb + r*sr + c*sc (in elements). batch == 1 means "the same matrix for every batch".
struct MatmulOperand {
  void* data = nullptr;
  DType dtype = DType::f32;
  int64_t batch = 1, rows = 0, cols = 0;
  int64_t sb = 0, sr = 0, sc = 0;
};

// `v` as operand `name` ("a", "b" or "c") of `op`: 2-D or 3-D, one stride per dimension, on a
// device of type `device`, no negative dimension, data unless empty. Throws naming all of it.
MatmulOperand matmul_operand(const char* op, const View& v, const char* name, DeviceType device);

// a @ b -> c (+ bias): inner dimensions, batch sizes (1 broadcasts), c's shape and batch stride,
// and the bias (null, or a contiguous [N] vector of c's dtype on c's device).
void check_matmul_shapes(const char* op, const View& a_view, const View& b_view, const View& c_view,
                         const View* bias, const MatmulOperand& a, const MatmulOperand& b,
                         const MatmulOperand& c);

// "a [2, 3] with strides [3, 1]", for stride errors.
std::string strided_str(const char* name, const View& v);

}  // namespace octet
