#pragma once
// Error checks for CUDA and cuBLASLt calls that carry the call site's file:line, for .cu and .cpp
// files of ops/cuda/ only (this header includes the CUDA runtime).
#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <string>

#include "ops/error.h"

namespace octet::cuda::detail {

[[noreturn]] inline void throw_cuda(cudaError_t rc, const char* call, const char* file, int line) {
  throw Error("cuda", std::string(cudaGetErrorString(rc)) + " in " + call + " at " + file + ":" +
                          std::to_string(line));
}

[[noreturn]] inline void throw_cublas(cublasStatus_t rc, const char* call, const char* file,
                                      int line) {
  throw Error("cublasLt", std::string(cublasLtGetStatusString(rc)) + " in " + call + " at " + file +
                              ":" + std::to_string(line));
}

}  // namespace octet::cuda::detail

#define OCTET_CUDA_CHECK(call)                                                 \
  do {                                                                         \
    cudaError_t octet_rc_ = (call);                                            \
    if (octet_rc_ != cudaSuccess)                                              \
      ::octet::cuda::detail::throw_cuda(octet_rc_, #call, __FILE__, __LINE__); \
  } while (0)

#define OCTET_CUBLAS_CHECK(call)                                                 \
  do {                                                                           \
    cublasStatus_t octet_rc_ = (call);                                           \
    if (octet_rc_ != CUBLAS_STATUS_SUCCESS)                                      \
      ::octet::cuda::detail::throw_cublas(octet_rc_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: a bad configuration shows up here, a fault inside the kernel at the next
// synchronising call.
#define OCTET_CUDA_CHECK_LAUNCH() OCTET_CUDA_CHECK(cudaGetLastError())

#include "ops/cuda/runtime.h"

namespace octet::cuda {
// The octet stream of a device, typed; also makes `device` current for the calling thread.
inline cudaStream_t stream_on(int device) {
  OCTET_CUDA_CHECK(cudaSetDevice(device));
  return static_cast<cudaStream_t>(stream(device));
}
}  // namespace octet::cuda
