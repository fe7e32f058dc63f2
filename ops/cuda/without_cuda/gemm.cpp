// gemm.h without the backend (see no_backend.h).
#include "ops/cuda/gemm.h"

#include <atomic>

#include "ops/cuda/without_cuda/no_backend.h"

namespace octet::cuda {

namespace {
std::atomic<bool> g_allow_tf32{false};
}

void matmul(const View&, const View&, const View&, const View*, bool) { no_backend("matmul"); }
// The switch is a setting, not device work: it can be set (and read back) in any build.
void set_allow_tf32(bool allow) { g_allow_tf32.store(allow); }
bool allow_tf32() { return g_allow_tf32.load(); }
size_t matmul_cache_size() { return 0; }  // no GEMM ever ran, so nothing is cached
double time_ms(int, const std::function<void()>&, int, int) { no_backend("time_ms"); }

}  // namespace octet::cuda
