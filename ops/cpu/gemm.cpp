#include "ops/cpu/gemm.h"

#include <omp.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ops/error.h"
#include "ops/matmul_shape.h"

namespace octet::cpu {
namespace {

constexpr const char* kOp = "matmul";

// An operand (ops/matmul_shape.h) with the byte address of batch n.
struct Matrix : MatmulOperand {
  char* at(int64_t n) const {
    char* base = static_cast<char*>(data);
    return batch > 1 ? base + n * sb * static_cast<int64_t>(dtype_size(dtype)) : base;
  }
};

Matrix to_matrix(const View& v, const char* name) {
  return Matrix{matmul_operand(kOp, v, name, DeviceType::cpu)};
}

// The stride of a size-1 dimension never matters, so give it the one a dense layout would have;
// then "row-major with leading dimension >= cols" (or the transposed form) is all oneDNN needs.
// A batch stride of 0 is a broadcast, which oneDNN expresses as batch dimension 1.
bool normalize_for_onednn(Matrix& m) {
  if (m.cols == 1) m.sc = 1;
  if (m.rows == 1) m.sr = m.sc == 1 ? m.cols : 1;
  const bool row_major = m.sc == 1 && m.sr >= m.cols;
  const bool col_major = m.sr == 1 && m.sc >= m.rows;
  if (m.batch == 1 || m.sb == 0) {
    m.batch = 1;
    m.sb = row_major ? m.rows * m.sr : m.cols * m.sc;
  }
  return (row_major || col_major) && m.sb > 0;
}

// ---- oneDNN path --------------------------------------------------------------------------------

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpu_stream() {
  static dnnl::stream stream(cpu_engine());
  return stream;
}

dnnl::memory::desc desc_of(const Matrix& m, bool batched) {
  const auto type =
      m.dtype == DType::bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
  if (!batched) return dnnl::memory::desc({m.rows, m.cols}, type, {m.sr, m.sc});
  return dnnl::memory::desc({m.batch, m.rows, m.cols}, type, {m.sb, m.sr, m.sc});
}

// A created primitive for one signature. per_batch: one 2-D GEMM runs per batch, because the
// batched layout would only get oneDNN's naive reference kernel (or none at all). upconvert: this
// CPU has no bf16 matmul, so bf16 inputs are widened (exactly) to f32 and the f32 plan runs.
struct Plan {
  dnnl::matmul primitive;
  dnnl::memory::desc src, weights, dst, bias;
  bool per_batch = false;
  bool upconvert = false;
};

std::mutex cache_mutex;
std::map<std::vector<int64_t>, Plan> plan_cache;

std::vector<int64_t> plan_key(const Matrix& a, const Matrix& b, const Matrix& c, bool bias,
                              bool accumulate) {
  std::vector<int64_t> key{static_cast<int64_t>(a.dtype), bias, accumulate, omp_get_max_threads()};
  for (const Matrix* m : {&a, &b, &c}) {
    key.insert(key.end(), {m->batch, m->rows, m->cols, m->sb, m->sr, m->sc});
  }
  return key;
}

bool is_reference_impl(const dnnl::matmul::primitive_desc& pd) {
  return std::string(pd.impl_info_str()).rfind("ref", 0) == 0;
}

Plan make_plan(const Matrix& a, const Matrix& b, const Matrix& c, bool bias, bool accumulate) {
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.f);
    attr.set_post_ops(ops);
  }
  // A layout oneDNN cannot take (or bf16 on a CPU without bf16 GEMMs) yields no descriptor.
  auto create = [&](bool batched) -> std::optional<dnnl::matmul::primitive_desc> {
    try {
      const auto src = desc_of(a, batched), weights = desc_of(b, batched);
      const auto dst = desc_of(c, batched);
      const auto type = dnnl::memory::data_type::f32;
      const auto bias_md = batched ? dnnl::memory::desc({1, 1, c.cols}, type, {c.cols, c.cols, 1})
                                   : dnnl::memory::desc({1, c.cols}, type, {c.cols, 1});
      return bias ? dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, bias_md, dst),
                                                 attr, cpu_engine())
                  : dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, dst), attr,
                                                 cpu_engine());
    } catch (const dnnl::error&) {
      return std::nullopt;
    }
  };
  Plan plan;
  std::optional<dnnl::matmul::primitive_desc> pd;
  // oneDNN cannot broadcast into the output's batch (both inputs batch 1), and it has no batched
  // kernel for overlapping batches; one 2-D GEMM per batch covers both.
  if (c.batch == 1 || a.batch > 1 || b.batch > 1) pd = create(true);
  if (c.batch > 1 && (!pd || is_reference_impl(*pd))) {
    auto flat = create(false);
    if (flat && !is_reference_impl(*flat)) {
      pd = flat;
      plan.per_batch = true;
    }
  }
  if (!pd) {
    OCTET_CHECK(a.dtype == DType::bf16, kOp,
                "oneDNN has no matmul for these strides; make the inputs contiguous first");
    plan.upconvert = true;
    return plan;
  }
  plan.primitive = dnnl::matmul(*pd);
  plan.src = pd->src_desc();
  plan.weights = pd->weights_desc();
  plan.dst = pd->dst_desc();
  if (bias) plan.bias = pd->bias_desc();
  return plan;
}

// Widens a bf16 operand to a dense f32 copy with the same orientation (row- or column-major), so
// the f32 GEMM sees exactly the values the bf16 GEMM would.
Matrix widen_bf16(const Matrix& m, std::vector<float>& storage) {
  const bool row_major = m.sc == 1;
  const int64_t outer = row_major ? m.rows : m.cols, inner = row_major ? m.cols : m.rows;
  const int64_t outer_stride = row_major ? m.sr : m.sc;
  storage.resize(static_cast<size_t>(m.batch * outer * inner));
  const auto* src = reinterpret_cast<const uint16_t*>(m.data);
  float* dst = storage.data();
#pragma omp parallel for collapse(2) schedule(static) if (m.batch * outer * inner > (1 << 15))
  for (int64_t n = 0; n < m.batch; ++n) {
    for (int64_t o = 0; o < outer; ++o) {
      const uint16_t* in = src + n * m.sb + o * outer_stride;
      float* out = dst + (n * outer + o) * inner;
      for (int64_t i = 0; i < inner; ++i) out[i] = bf16_to_f32(in[i]);
    }
  }
  Matrix w = m;
  w.data = reinterpret_cast<char*>(dst);
  w.dtype = DType::f32;
  w.sb = outer * inner;
  w.sr = row_major ? inner : 1;
  w.sc = row_major ? 1 : inner;
  return w;
}

void run_onednn(const Matrix& a, const Matrix& b, const Matrix& c, float* bias, bool accumulate) {
  const auto key = plan_key(a, b, c, bias != nullptr, accumulate);
  const Plan* plan = nullptr;
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = plan_cache.find(key);
    if (it == plan_cache.end()) {
      it = plan_cache.emplace(key, make_plan(a, b, c, bias != nullptr, accumulate)).first;
    }
    plan = &it->second;  // std::map never moves its nodes, so this stays valid
  }
  if (plan->upconvert) {
    thread_local std::vector<float> a32, b32;
    run_onednn(widen_bf16(a, a32), widen_bf16(b, b32), c, bias, accumulate);
    return;
  }
  auto& engine = cpu_engine();
  dnnl::memory src(plan->src, engine, a.data), weights(plan->weights, engine, b.data),
      dst(plan->dst, engine, c.data);
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}};
  if (bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(plan->bias, engine, bias));
  if (!plan->per_batch) {
    plan->primitive.execute(cpu_stream(), args);
  } else {
    for (int64_t n = 0; n < c.batch; ++n) {
      src.set_data_handle(a.at(n));
      weights.set_data_handle(b.at(n));
      dst.set_data_handle(c.at(n));
      plan->primitive.execute(cpu_stream(), args);
    }
  }
  cpu_stream().wait();
}

// ---- f64 reference path -------------------------------------------------------------------------

// Tiles of rows x depth x columns keep a block of b (64 x 256 doubles) hot in cache while 8 rows
// of a reuse it; each output is still summed over k in order, like the naive definition.
constexpr int64_t kRowTile = 8, kDepthTile = 64, kColTile = 256;

void matmul_f64(const Matrix& a, const Matrix& b, const Matrix& c, const double* bias,
                bool accumulate) {
  const int64_t M = c.rows, N = c.cols, K = a.cols;
  const int64_t row_tiles = (M + kRowTile - 1) / kRowTile;
  // Gradcheck's matrices are tiny: a parallel region would cost more than the product.
  const bool parallel = c.batch * M * N * K > (1 << 18);
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < c.batch * row_tiles; ++t) {
    const int64_t n = t / row_tiles, i0 = (t % row_tiles) * kRowTile;
    const int64_t i1 = std::min(M, i0 + kRowTile);
    const auto* A = reinterpret_cast<const double*>(a.at(n));
    const auto* B = reinterpret_cast<const double*>(b.at(n));
    auto* C = reinterpret_cast<double*>(c.at(n));
    double acc[kRowTile][kColTile];
    for (int64_t j0 = 0; j0 < N; j0 += kColTile) {
      const int64_t width = std::min(N - j0, kColTile);
      for (int64_t i = i0; i < i1; ++i) std::fill_n(acc[i - i0], width, 0.0);
      for (int64_t k0 = 0; k0 < K; k0 += kDepthTile) {
        const int64_t k1 = std::min(K, k0 + kDepthTile);
        for (int64_t i = i0; i < i1; ++i) {
          double* row = acc[i - i0];
          for (int64_t k = k0; k < k1; ++k) {
            const double aik = A[i * a.sr + k * a.sc];
            const double* bk = B + k * b.sr + j0 * b.sc;
            if (b.sc == 1) {
              for (int64_t j = 0; j < width; ++j) row[j] += aik * bk[j];
            } else {
              for (int64_t j = 0; j < width; ++j) row[j] += aik * bk[j * b.sc];
            }
          }
        }
      }
      for (int64_t i = i0; i < i1; ++i) {
        for (int64_t j = 0; j < width; ++j) {
          double& out = C[i * c.sr + (j0 + j) * c.sc];
          double v = acc[i - i0][j];
          if (bias) v += bias[j0 + j];
          out = accumulate ? v + out : v;
        }
      }
    }
  }
}

// oneDNN treats a zero-sized K as "nothing to do", but the product is an all-zero matrix.
void fill_empty_product(const Matrix& c, const float* bias, bool accumulate) {
  for (int64_t n = 0; n < c.batch; ++n) {
    auto* C = reinterpret_cast<float*>(c.at(n));
    for (int64_t i = 0; i < c.rows; ++i) {
      for (int64_t j = 0; j < c.cols; ++j) {
        float& out = C[i * c.sr + j];
        const float v = bias ? bias[j] : 0.f;
        out = accumulate ? out + v : v;
      }
    }
  }
}

}  // namespace

void matmul(const View& a_view, const View& b_view, const View& c_view, const View* bias,
            bool accumulate) {
  Matrix a = to_matrix(a_view, "a"), b = to_matrix(b_view, "b"), c = to_matrix(c_view, "c");
  OCTET_CHECK(a.dtype == b.dtype, kOp, "dtype mismatch: a ", dtype_name(a.dtype), " vs b ",
              dtype_name(b.dtype));
  const bool f64 = a.dtype == DType::f64 && c.dtype == DType::f64;
  const bool onednn = (a.dtype == DType::f32 || a.dtype == DType::bf16) && c.dtype == DType::f32;
  OCTET_CHECK(f64 || onednn, kOp, "unsupported dtypes: a ", dtype_name(a.dtype), " @ b ",
              dtype_name(b.dtype), " -> c ", dtype_name(c.dtype),
              "; supported are f32 @ f32 -> f32, bf16 @ bf16 -> f32, f64 @ f64 -> f64");
  check_matmul_shapes(kOp, a_view, b_view, c_view, bias, a, b, c);
  if (c.batch == 0 || c.rows == 0 || c.cols == 0) return;

  if (f64) {
    matmul_f64(a, b, c, bias ? bias->ptr<double>() : nullptr, accumulate);
    return;
  }
  OCTET_CHECK(normalize_for_onednn(c) && c.sc == 1, kOp, "unsupported strides for ",
              strided_str("c", c_view), ": the output needs unit column stride, non-overlapping ",
              "rows and a positive batch stride; write into a contiguous buffer instead");
  float* bias_data = bias ? bias->ptr<float>() : nullptr;
  if (a.cols == 0) {
    fill_empty_product(c, bias_data, accumulate);
    return;
  }
  OCTET_CHECK(normalize_for_onednn(a), kOp, "unsupported strides for ", strided_str("a", a_view),
              ": each matrix needs a unit row or column stride, a leading dimension covering the ",
              "other one and a positive batch stride; make it contiguous first");
  OCTET_CHECK(normalize_for_onednn(b), kOp, "unsupported strides for ", strided_str("b", b_view),
              ": each matrix needs a unit row or column stride, a leading dimension covering the ",
              "other one and a positive batch stride; make it contiguous first");
  run_onednn(a, b, c, bias_data, accumulate);
}

void set_num_threads(int n) {
  OCTET_CHECK(n >= 1, "set_num_threads", "thread count must be >= 1, got ", n);
  omp_set_num_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

bool bf16_matmul_is_native() {
  static const bool native = [] {
    try {
      using dt = dnnl::memory::data_type;
      const dnnl::memory::desc a({64, 64}, dt::bf16, {64, 1}), c({64, 64}, dt::f32, {64, 1});
      const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, a, c), cpu_engine());
      return !is_reference_impl(pd);
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return native;
}

size_t matmul_cache_size() {
  std::lock_guard<std::mutex> lock(cache_mutex);
  return plan_cache.size();
}

}  // namespace octet::cpu
