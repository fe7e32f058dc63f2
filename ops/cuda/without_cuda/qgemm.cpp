// qgemm.h without the backend (see no_backend.h).
#include "ops/cuda/qgemm.h"

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

void int8_matmul(const View&, const View&, const View&) { no_backend("int8_gemm"); }
void int8_dequantize(const View&, const View&, const View&, const View*, const View&) {
  no_backend("int8_gemm");
}
void int8_gemm(const View&, const View&, const View&, const View&, const View*, const View&) {
  no_backend("int8_gemm");
}
void fp8_gemm(const View&, const View&, const View&, const View&, const View*, const View&) {
  no_backend("fp8_gemm");
}
bool has_fp8(int) { no_backend("fp8_gemm"); }
void bf16_linear(const View&, const View&, const LinearEpilogue&, const View&) {
  no_backend("bf16_linear");
}
void fp8_linear(const View&, const View&, const View&, const View&, const LinearEpilogue&,
                const View&) {
  no_backend("fp8_linear");
}
void int8_linear(const View&, const View&, const View&, const View&, const LinearEpilogue&,
                 const View&) {
  no_backend("int8_linear");
}

}  // namespace octet::cuda
