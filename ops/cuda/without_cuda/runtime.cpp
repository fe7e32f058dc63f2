// runtime.h and copy.h without the backend (see no_backend.h).
#include "ops/cuda/runtime.h"

#include "ops/cuda/copy.h"
#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

bool compiled() { return false; }
int device_count() { return 0; }
void require(const Device&, const char* op) { no_backend(op); }
void* stream(int) { no_backend("stream"); }
void synchronize(int, const char* op) { no_backend(op); }
void profiler_capture(bool) { no_backend("profiler_capture"); }
void* allocate(size_t, int) { no_backend("allocate"); }
void release(void*, int) {}
AllocatorStats allocator_stats(int) { no_backend("allocator_stats"); }
void empty_cache(int) { no_backend("empty_cache"); }
void copy_bytes(void*, const Device&, const void*, const Device&, size_t) { no_backend("copy"); }
void zero_bytes(void*, int, size_t) { no_backend("zeros"); }
void copy(const View&, const View&) { no_backend("copy"); }
void fill(const View&, double) { no_backend("fill"); }

}  // namespace octet::cuda
