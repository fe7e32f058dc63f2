#pragma once
// Random operands on the GPU for the CUDA benchmarks (GEMMs time the same on any finite data,
// but never on zeros, which can run faster than real values).
#include <cstdint>
#include <vector>

#include "framework/random.h"
#include "framework/tensor/tensor.h"

namespace octet::bench {

// A [rows, cols] device tensor of `dtype` made of random bytes whose values are all finite: the
// top byte of each element (sign and exponent) is kept small for the float formats; int8 codes
// take any value.
inline Tensor random_device_operand(int64_t rows, int64_t cols, DType dtype, Generator& gen) {
  const size_t esize = dtype_size(dtype);
  std::vector<uint8_t> bytes(static_cast<size_t>(rows * cols) * esize);
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto r = static_cast<uint8_t>(gen.next_u64());
    const bool top = i % esize == esize - 1;
    bytes[i] = !top         ? r
               : esize == 1 ? static_cast<uint8_t>(r & (dtype == DType::i8 ? 0xff : 0xb7))
                            : static_cast<uint8_t>((r & 0x80) | 0x3c | (r & 1));
  }
  Tensor t = Tensor::from_vector(bytes, {rows, cols * static_cast<int64_t>(esize)}).cuda();
  const View v = t.view();
  return Tensor::wrap(View{v.data, dtype, v.device, {rows, cols}, {cols, 1}}, t.impl_ptr());
}

}  // namespace octet::bench
