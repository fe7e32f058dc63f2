#include "ops/cuda/lt.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ops/cuda/runtime.h"

// check.h's OCTET_CUBLAS_CHECK names the status with cublasGetStatusString, which lives in
// libcublas, a library octet does not link; cuBLASLt has its own twin of it.
#define OCTET_LT_CHECK(call)                                                                      \
  do {                                                                                            \
    const cublasStatus_t octet_rc_ = (call);                                                      \
    if (octet_rc_ != CUBLAS_STATUS_SUCCESS)                                                       \
      throw ::octet::Error("cublasLt", std::string(cublasLtGetStatusString(octet_rc_)) + " in " + \
                                           #call + " at " + __FILE__ + ":" +                      \
                                           std::to_string(__LINE__));                             \
  } while (0)

namespace octet::cuda::lt {
namespace {

// 32 MiB lets cuBLASLt pick split-K and stream-K kernels at LLM shapes; held for the process's
// life, like the handle (destroying either at exit would race the driver's own teardown).
constexpr size_t kWorkspaceBytes = size_t{32} << 20;
constexpr int kMaxDevices = 64;

struct DeviceState {
  std::once_flag once;
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
};
DeviceState g_devices[kMaxDevices];

DeviceState& device_state(int device) {
  require(Device{DeviceType::cuda, device}, "cublasLt");
  DeviceState& s = g_devices[device];
  std::call_once(s.once, [&] {
    OCTET_CUDA_CHECK(cudaSetDevice(device));
    OCTET_LT_CHECK(cublasLtCreate(&s.handle));
    s.workspace = allocate(kWorkspaceBytes, device);
  });
  return s;
}

struct DescDeleter {
  void operator()(cublasLtMatmulDescOpaque_t* d) const { cublasLtMatmulDescDestroy(d); }
};
struct LayoutDeleter {
  void operator()(cublasLtMatrixLayoutOpaque_t* l) const { cublasLtMatrixLayoutDestroy(l); }
};
struct PrefDeleter {
  void operator()(cublasLtMatmulPreferenceOpaque_t* p) const { cublasLtMatmulPreferenceDestroy(p); }
};
using Desc = std::unique_ptr<cublasLtMatmulDescOpaque_t, DescDeleter>;
using LayoutHandle = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LayoutDeleter>;
using Pref = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, PrefDeleter>;

template <typename T>
void set(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr, const T& value) {
  OCTET_LT_CHECK(cublasLtMatmulDescSetAttribute(d, attr, &value, sizeof(value)));
}

LayoutHandle make_layout(const Layout& l) {
  cublasLtMatrixLayout_t raw = nullptr;
  OCTET_LT_CHECK(cublasLtMatrixLayoutCreate(&raw, l.type, static_cast<uint64_t>(l.rows),
                                            static_cast<uint64_t>(l.cols), l.ld));
  LayoutHandle out(raw);
  if (l.batch > 1) {
    const auto count = static_cast<int32_t>(l.batch);
    const int64_t stride = l.batch_stride;
    OCTET_LT_CHECK(cublasLtMatrixLayoutSetAttribute(raw, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                                    sizeof(count)));
    OCTET_LT_CHECK(cublasLtMatrixLayoutSetAttribute(
        raw, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
  }
  return out;
}

size_t type_size(cudaDataType_t t) {
  switch (t) {
    case CUDA_R_64F:
      return 8;
    case CUDA_R_32F:
    case CUDA_R_32I:
      return 4;
    case CUDA_R_16BF:
    case CUDA_R_16F:
      return 2;
    default:
      return 1;
  }
}

struct Alignments {
  uint32_t a, b, c, d, bias;
};

Alignments alignments_of(const Gemm& g) {
  auto of = [](const void* p, const Layout& l) {
    return alignment(p, l.batch, l.batch_stride * static_cast<int64_t>(type_size(l.type)));
  };
  return {of(g.a_ptr, g.a), of(g.b_ptr, g.b), of(g.c_ptr ? g.c_ptr : g.d_ptr, g.d),
          of(g.d_ptr, g.d), g.bias ? alignment(g.bias, 1, 0) : 256u};
}

Layout c_layout(const Gemm& g) {
  Layout c = g.d;
  if (g.c_type >= 0) c.type = static_cast<cudaDataType_t>(g.c_type);
  return c;
}

// Everything cublasLtMatmulAlgoGetHeuristic reads, so a cached algorithm is valid for any call
// with the same key.
std::vector<int64_t> key_of(const Gemm& g, const Alignments& al) {
  std::vector<int64_t> key{g.device,
                           g.compute,
                           g.scale_type,
                           g.trans_a,
                           g.trans_b,
                           g.bias != nullptr,
                           al.bias,
                           g.a_scale != nullptr,
                           g.b_scale != nullptr,
                           g.accumulate,
                           g.bias_type,
                           g.gelu,
                           g.c_type,
                           g.d_scale != nullptr,
                           g.alpha_vector != nullptr,
                           al.a,
                           al.b,
                           al.c,
                           al.d};
  for (const Layout* l : {&g.a, &g.b, &g.d})
    key.insert(key.end(), {l->type, l->rows, l->cols, l->ld, l->batch, l->batch_stride});
  return key;
}

std::string describe(const Gemm& g) {
  auto layout = [](const Layout& l) {
    return octet::detail::concat(
        "type ", static_cast<int>(l.type), " ", l.rows, "x", l.cols, " ld ", l.ld,
        l.batch > 1 ? octet::detail::concat(" batch ", l.batch, " stride ", l.batch_stride)
                    : std::string());
  };
  return octet::detail::concat(
      "compute ", static_cast<int>(g.compute), ", A (op ", static_cast<int>(g.trans_a), ") ",
      layout(g.a), ", B (op ", static_cast<int>(g.trans_b), ") ", layout(g.b), ", D ", layout(g.d),
      g.bias ? ", bias epilogue" : "", g.gelu ? ", gelu epilogue" : "",
      g.c_type >= 0 ? octet::detail::concat(", C type ", g.c_type) : "",
      g.d_scale ? ", D scale" : "", g.alpha_vector ? ", alpha per row" : "");
}

std::mutex g_cache_mutex;
std::map<std::vector<int64_t>, cublasLtMatmulAlgo_t> g_cache;

}  // namespace

uint32_t alignment(const void* ptr, int64_t batch, int64_t batch_stride_bytes) {
  uint64_t bits = reinterpret_cast<uintptr_t>(ptr) | 256u;
  if (batch > 1 && batch_stride_bytes != 0) bits |= static_cast<uint64_t>(batch_stride_bytes);
  return static_cast<uint32_t>(bits & (~bits + 1));  // lowest set bit
}

void run(const Gemm& g, const char* op) {
  DeviceState& state = device_state(g.device);
  cudaStream_t stream = stream_on(g.device);

  cublasLtMatmulDesc_t raw_desc = nullptr;
  OCTET_LT_CHECK(cublasLtMatmulDescCreate(&raw_desc, g.compute, g.scale_type));
  Desc desc(raw_desc);
  set<int32_t>(raw_desc, CUBLASLT_MATMUL_DESC_TRANSA, g.trans_a);
  set<int32_t>(raw_desc, CUBLASLT_MATMUL_DESC_TRANSB, g.trans_b);
  if (g.bias || g.gelu) {
    const cublasLtEpilogue_t epilogue =
        g.gelu ? (g.bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU)
               : CUBLASLT_EPILOGUE_BIAS;
    set<uint32_t>(raw_desc, CUBLASLT_MATMUL_DESC_EPILOGUE, epilogue);
  }
  if (g.bias) {
    set<const void*>(raw_desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, g.bias);
    if (g.bias_type >= 0) set<int32_t>(raw_desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, g.bias_type);
  }
  if (g.a_scale) set<const void*>(raw_desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, g.a_scale);
  if (g.b_scale) set<const void*>(raw_desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, g.b_scale);
  if (g.d_scale) set<const void*>(raw_desc, CUBLASLT_MATMUL_DESC_D_SCALE_POINTER, g.d_scale);
  OCTET_CHECK(!g.alpha_vector || !g.accumulate, op, "an alpha vector needs beta = 0");
  if (g.alpha_vector)
    set<int32_t>(raw_desc, CUBLASLT_MATMUL_DESC_POINTER_MODE,
                 CUBLASLT_POINTER_MODE_ALPHA_DEVICE_VECTOR_BETA_ZERO);
  const LayoutHandle a = make_layout(g.a), b = make_layout(g.b), d = make_layout(g.d);
  const LayoutHandle c = g.c_type >= 0 ? make_layout(c_layout(g)) : nullptr;
  cublasLtMatrixLayout_t c_raw = c ? c.get() : d.get();

  const Alignments al = alignments_of(g);
  const std::vector<int64_t> key = key_of(g, al);
  cublasLtMatmulAlgo_t algo;
  {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    auto it = g_cache.find(key);
    if (it == g_cache.end()) {
      cublasLtMatmulPreference_t raw_pref = nullptr;
      OCTET_LT_CHECK(cublasLtMatmulPreferenceCreate(&raw_pref));
      Pref pref(raw_pref);
      const uint64_t ws = kWorkspaceBytes;
      OCTET_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(
          raw_pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
      const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
          {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, al.a},
          {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, al.b},
          {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, al.c},
          {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, al.d}};
      for (const auto& [attr, value] : aligns)
        OCTET_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(raw_pref, attr, &value, sizeof(value)));
      cublasLtMatmulHeuristicResult_t result{};
      int found = 0;
      const cublasStatus_t rc = cublasLtMatmulAlgoGetHeuristic(
          state.handle, raw_desc, a.get(), b.get(), c_raw, d.get(), raw_pref, 1, &result, &found);
      OCTET_CHECK(rc == CUBLAS_STATUS_SUCCESS && found > 0, op,
                  "cuBLASLt has no algorithm for this problem (", describe(g),
                  "): ", cublasLtGetStatusString(rc));
      it = g_cache.emplace(key, result.algo).first;
    }
    algo = it->second;
  }

  // alpha and beta are host values of the scale type: int32 for IMMA, f64 for f64, else f32.
  union Scalar {
    float f;
    double d;
    int32_t i;
  } alpha{}, beta{};
  switch (g.scale_type) {
    case CUDA_R_32I:
      alpha.i = 1, beta.i = g.accumulate ? 1 : 0;
      break;
    case CUDA_R_64F:
      alpha.d = 1, beta.d = g.accumulate ? 1 : 0;
      break;
    default:
      alpha.f = 1, beta.f = g.accumulate ? 1.f : 0.f;
  }
  // With an alpha vector, alpha is its device pointer and beta is zero.
  const void* alpha_arg = g.alpha_vector ? g.alpha_vector : static_cast<const void*>(&alpha);
  OCTET_LT_CHECK(cublasLtMatmul(state.handle, raw_desc, alpha_arg, g.a_ptr, a.get(), g.b_ptr,
                                b.get(), &beta, g.c_ptr ? g.c_ptr : g.d_ptr, c_raw, g.d_ptr,
                                d.get(), &algo, state.workspace, kWorkspaceBytes, stream));
}

size_t cache_size() {
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  return g_cache.size();
}

}  // namespace octet::cuda::lt
