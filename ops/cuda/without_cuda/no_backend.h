#pragma once
// The CUDA entry points of a build without the backend (OCTET_CUDA=OFF) live in this folder, one
// file per header of ops/cuda/: no device exists, and anything that would need one says so. They
// are compiled instead of ops/cuda/*.cpp and *.cu, so the rest of octet calls the CUDA kernels
// without #ifdefs.
#include "ops/error.h"

namespace octet::cuda {

[[noreturn]] inline void no_backend(const char* op) {
  throw Error(op,
              "octet was built without CUDA (configure with -DOCTET_CUDA=ON on a machine "
              "with the CUDA toolkit)");
}

}  // namespace octet::cuda
