// The int8 GEMM through oneDNN's matmul, for CPUs where oneDNN multiplies int8 exactly: VNNI's
// VPDPBUSD sums four u8*s8 products straight into int32, and AMX tiles accumulate in int32. On
// AVX2 / AVX-512 without VNNI it would saturate int16 pair sums (qgemm.h), so best_int8_kernel()
// picks it only when oneDNN reports one of those ISAs. oneDNN computes the int32 accumulators
// (s32 output); octet's own epilogue applies zero point, scales and bias, as for the other kernels.
#include <omp.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "ops/error.h"
#include "ops/quant/qgemm_kernel.h"

namespace octet::quant::detail {
namespace {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

struct Plan {
  dnnl::matmul primitive;
  dnnl::memory::desc src, weights, dst;
};

std::mutex plan_mutex;
std::map<std::vector<int64_t>, Plan> plans;  // std::map: nodes never move, pointers stay valid

const Plan& plan_for(const Int8Activations& a, int64_t n) {
  const std::vector<int64_t> key{a.m, n, a.k, a.ld, a.is_unsigned, omp_get_max_threads()};
  std::lock_guard<std::mutex> lock(plan_mutex);
  auto it = plans.find(key);
  if (it != plans.end()) return it->second;
  using dt = dnnl::memory::data_type;
  Plan plan;
  plan.src = dnnl::memory::desc({a.m, a.k}, a.is_unsigned ? dt::u8 : dt::s8, {a.ld, 1});
  // W [n, k] row-major is W^T [k, n] column-major: oneDNN reads it in place.
  plan.weights = dnnl::memory::desc({a.k, n}, dt::s8, {1, a.k});
  plan.dst = dnnl::memory::desc({a.m, n}, dt::s32, {n, 1});
  try {
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(plan.src, plan.weights, plan.dst),
                                          engine());
    plan.primitive = dnnl::matmul(pd);
  } catch (const dnnl::error& e) {
    OCTET_CHECK(false, "int8_gemm", "oneDNN has no int8 matmul for [", a.m, ", ", a.k, "] x [", a.k,
                ", ", n, "]: ", e.what());
  }
  return plans.emplace(key, std::move(plan)).first->second;
}

}  // namespace

bool onednn_int8_is_exact() {
  static const bool exact = [] {
    switch (dnnl::get_effective_cpu_isa()) {
      case dnnl::cpu_isa::avx2_vnni:
      case dnnl::cpu_isa::avx512_core_vnni:
      case dnnl::cpu_isa::avx512_core_bf16:
      case dnnl::cpu_isa::avx512_core_amx:
        return true;
      default:
        return false;
    }
  }();
  return exact;
}

void int8_gemm_onednn(const Int8Activations& a, const PackedInt8Weight& w, const Int8Epilogue& e) {
  thread_local std::vector<int32_t> acc_scratch;
  acc_scratch.resize(static_cast<size_t>(a.m * w.n));
  int32_t* acc = acc_scratch.data();
  // oneDNN overwrites every accumulator, except that it takes K = 0 as "nothing to do": the
  // product is then all zeros. (Zeroing always would cost a pass over m x n int32 per call.)
  if (a.k == 0) {
    std::fill_n(acc, a.m * w.n, 0);
  } else {
    const Plan& plan = plan_for(a, w.n);
    dnnl::memory src(plan.src, engine(), const_cast<void*>(a.codes));
    dnnl::memory weights(plan.weights, engine(), const_cast<int8_t*>(w.codes.data()));
    dnnl::memory dst(plan.dst, engine(), acc);
    plan.primitive.execute(stream(),
                           {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}});
    stream().wait();
  }
  const int64_t row_blocks = (a.m + kTileRows - 1) / kTileRows;
#pragma omp parallel for schedule(static) if (a.m * w.n > (1 << 16))
  for (int64_t r = 0; r < row_blocks; ++r) {
    const int64_t row0 = r * kTileRows;
    apply_int8_epilogue(acc + row0 * w.n, w.n, row0, std::min(kTileRows, a.m - row0), 0, w.n, w, e);
  }
}

}  // namespace octet::quant::detail
