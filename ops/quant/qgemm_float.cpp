// The qgemm.h paths that end in a floating-point GEMM: FP8 (decoded codes), weight-only int8
// (dequantized weights) and LLM.int8()'s outlier columns. FP8 runs one bf16 GEMM on the weight
// decoded at load where oneDNN has bf16 GEMMs; otherwise, as for weight-only int8, the weight is
// widened one block of rows at a time into a scratch buffer, so no f32 copy of a whole weight is
// ever held.
#include <algorithm>
#include <array>
#include <cmath>

#include "ops/cpu/gemm.h"
#include "ops/error.h"
#include "ops/quant/outliers.h"
#include "ops/quant/qgemm.h"
#include "ops/quant/qgemm_kernel.h"
#include "ops/quant/quantize.h"

namespace octet::quant {
namespace {

// Rows of weight widened per block: 2M f32 values (8 MiB) whatever the layer's size. Measured at
// 512 x 4096 x 4096 (FP8): 1M-value blocks ran at 0.80x oneDNN's whole-matrix sgemm, 2M-value
// blocks at 0.93x, since oneDNN needs wide enough GEMMs to reach its full rate.
int64_t block_rows(int64_t k) {
  const int64_t rows = (int64_t{1} << 21) / std::max<int64_t>(k, 1);
  return std::max<int64_t>(detail::kPanelCols, rows / detail::kPanelCols * detail::kPanelCols);
}

View f32_matrix(const float* data, int64_t rows, int64_t cols, int64_t row_stride,
                int64_t col_stride) {
  return View{const_cast<float*>(data), DType::f32, {}, {rows, cols}, {row_stride, col_stride}};
}

// y[:, j0:j0+rows] = x @ block^T (+ bias[j0:j0+rows]), block f32 [rows, k] row-major.
void gemm_block(const float* x, int64_t m, int64_t k, int64_t ldx, const float* block, int64_t j0,
                int64_t rows, const float* bias, float* y, int64_t ldy) {
  const View a = f32_matrix(x, m, k, ldx, 1);
  const View b = f32_matrix(block, k, rows, 1, k);  // block^T, read in place
  const View c = f32_matrix(y + j0, m, rows, ldy, 1);
  if (bias) {
    const View bias_view{const_cast<float*>(bias + j0), DType::f32, {}, {rows}, {1}};
    cpu::matmul(a, b, c, &bias_view);
  } else {
    cpu::matmul(a, b, c);
  }
}

void check_shapes(const char* op, int64_t m, int64_t n, int64_t k, int64_t ldx, int64_t ldy,
                  int64_t weight_k) {
  OCTET_CHECK(m >= 0, op, "negative row count ", m);
  OCTET_CHECK(k == weight_k, op, "k mismatch: input has ", k, " columns, the weight ", weight_k);
  OCTET_CHECK(ldx >= k, op, "input leading dimension ", ldx, " is below k = ", k);
  OCTET_CHECK(ldy >= n, op, "output leading dimension ", ldy, " is below n = ", n);
}

// The 256 FP8 codes of a format as bf16 bit patterns (exact: every E4M3/E5M2 value is a bf16).
const uint16_t* fp8_bf16_table(Fp8Format format) {
  static const auto tables = [] {
    std::array<std::array<uint16_t, 256>, 2> t{};
    for (const Fp8Format f : {Fp8Format::kE4M3, Fp8Format::kE5M2}) {
      const float* decoded = fp8_decode_table(f);
      for (int c = 0; c < 256; ++c) t[f == Fp8Format::kE5M2][c] = f32_to_bf16(decoded[c]);
    }
    return t;
  }();
  return tables[format == Fp8Format::kE5M2].data();
}

// out [m, k] (dense) = table[codes [m, k] with leading dimension ld]: FP8 codes to f32 or bf16.
template <typename T>
void decode_rows(const T* table, const uint8_t* codes, int64_t m, int64_t k, int64_t ld, T* out) {
#pragma omp parallel for schedule(static) if (m * k > (1 << 16))
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t c = 0; c < k; ++c) out[i * k + c] = table[codes[i * ld + c]];
  }
}

}  // namespace

// ---- FP8 ----

struct Fp8Weight::State {
  int64_t n = 0, k = 0;
  Fp8Format format = Fp8Format::kE4M3;
  std::vector<float> scales;
  std::vector<float> inv_scales;  // 1/s per output channel
  std::vector<uint16_t> bf16;     // [n, k]
};

Fp8Weight::Fp8Weight(const uint8_t* codes, Fp8Format format, int64_t n, int64_t k,
                     std::vector<float> scales) {
  constexpr const char* kOp = "fp8_weight";
  OCTET_CHECK(n >= 0 && k >= 0, kOp, "negative shape [", n, ", ", k, "]");
  OCTET_CHECK(codes != nullptr || n * k == 0, kOp, "codes are null for a [", n, ", ", k,
              "] weight");
  const auto count = static_cast<int64_t>(scales.size());
  OCTET_CHECK(count == 1 || count == n, kOp, "weight scale count must be 1 (per tensor) or n = ", n,
              " (per output channel), got ", count);
  auto state = std::make_shared<State>();
  state->n = n;
  state->k = k;
  state->format = format;
  state->inv_scales.resize(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    const float s = scales[count == 1 ? 0 : j];
    OCTET_CHECK(std::isfinite(s) && s > 0.0f, kOp, "scale ", j,
                " must be positive and finite, got ", s);
    state->inv_scales[j] = 1.0f / s;
  }
  state->scales = std::move(scales);
  const uint16_t* table = fp8_bf16_table(format);
  state->bf16.resize(static_cast<size_t>(n * k));
#pragma omp parallel for schedule(static) if (n * k > (1 << 20))
  for (int64_t i = 0; i < n * k; ++i) state->bf16[i] = table[codes[i]];
  state_ = std::move(state);
}

int64_t Fp8Weight::n() const { return state_ ? state_->n : 0; }
int64_t Fp8Weight::k() const { return state_ ? state_->k : 0; }
Fp8Format Fp8Weight::format() const { return state_ ? state_->format : Fp8Format::kE4M3; }
const uint16_t* Fp8Weight::bf16() const { return state_ ? state_->bf16.data() : nullptr; }

const std::vector<float>& Fp8Weight::scales() const {
  OCTET_CHECK(state_ != nullptr, "fp8_gemm", "the Fp8Weight is empty (default-constructed)");
  return state_->scales;
}

size_t Fp8Weight::resident_bytes() const {
  if (!state_) return 0;
  return sizeof(State) + state_->bf16.size() * sizeof(uint16_t) +
         (state_->scales.size() + state_->inv_scales.size()) * sizeof(float);
}

void fp8_gemm(const uint8_t* a_codes, Fp8Format a_format, int64_t m, int64_t k, int64_t lda,
              float a_scale, const Fp8Weight& w, const float* bias, float* y, int64_t ldy) {
  constexpr const char* kOp = "fp8_gemm";
  OCTET_CHECK(w.bf16() != nullptr || w.n() * w.k() == 0, kOp, "the Fp8Weight is empty");
  const int64_t n = w.n();
  check_shapes(kOp, m, n, k, lda, ldy, w.k());
  OCTET_CHECK(std::isfinite(a_scale) && a_scale > 0.0f, kOp,
              "activation scale must be positive and finite, got ", a_scale);
  if (m == 0 || n == 0) return;
  OCTET_CHECK(y != nullptr && (a_codes != nullptr || k == 0), kOp, "null codes or output");
  const float inv_a = 1.0f / a_scale;
  const float* inv_w = w.state_->inv_scales.data();
  // y[:, j0:j0+nb] = acc * (1/s_a) * (1/s_w[j]) + bias[j], the fake-quant layer's dequantization.
  auto scale_columns = [&](int64_t j0, int64_t nb) {
#pragma omp parallel for schedule(static) if (m * nb > (1 << 16))
    for (int64_t i = 0; i < m; ++i) {
      float* row = y + i * ldy + j0;
      for (int64_t j = 0; j < nb; ++j) {
        row[j] = row[j] * inv_a * inv_w[j0 + j] + (bias ? bias[j0 + j] : 0.0f);
      }
    }
  };
  // Every decoded value is exactly a bf16, and products of two bf16 are exact in f32, so a bf16
  // GEMM with f32 accumulation and an f32 GEMM on the widened values compute the same sums (up to
  // their order). Scratch per calling thread; the parallel loops below must use these pointers,
  // since inside them a thread_local name would be each worker's own (empty) instance.
  const uint16_t* wb = w.bf16();
  if (cpu::bf16_matmul_is_native()) {
    thread_local std::vector<uint16_t> x_scratch;
    x_scratch.resize(static_cast<size_t>(m * k));
    uint16_t* x = x_scratch.data();
    decode_rows(fp8_bf16_table(a_format), a_codes, m, k, lda, x);
    const View a{x, DType::bf16, {}, {m, k}, {k, 1}};
    const View b{const_cast<uint16_t*>(wb), DType::bf16, {}, {k, n}, {1, k}};  // W^T in place
    const View c = f32_matrix(y, m, n, ldy, 1);
    cpu::matmul(a, b, c);
    scale_columns(0, n);
    return;
  }
  // No bf16 GEMM here (AVX2): widen a block of weight rows at a time for oneDNN's sgemm.
  thread_local std::vector<float> x_scratch, block_scratch;
  x_scratch.resize(static_cast<size_t>(m * k));
  float* x = x_scratch.data();
  decode_rows(fp8_decode_table(a_format), a_codes, m, k, lda, x);
  const int64_t rows = block_rows(k);
  block_scratch.resize(static_cast<size_t>(std::min(rows, n) * k));
  float* block = block_scratch.data();
  for (int64_t j0 = 0; j0 < n; j0 += rows) {
    const int64_t nb = std::min(rows, n - j0);
#pragma omp parallel for schedule(static) if (nb * k > (1 << 16))
    for (int64_t i = 0; i < nb * k; ++i) block[i] = bf16_to_f32(wb[j0 * k + i]);
    gemm_block(x, m, k, k, block, j0, nb, nullptr, y, ldy);
    scale_columns(j0, nb);
  }
}

// ---- weight-only int8 ----

void weight_only_int8_gemm(const float* x, int64_t m, int64_t k, int64_t ldx, const Int8Weight& w,
                           const float* bias, float* y, int64_t ldy) {
  constexpr const char* kOp = "weight_only_int8_gemm";
  const detail::PackedInt8Weight& pw = w.packed();
  const int64_t n = pw.n;
  check_shapes(kOp, m, n, k, ldx, ldy, pw.k);
  if (m == 0 || n == 0) return;
  OCTET_CHECK(y != nullptr && (x != nullptr || k == 0), kOp, "null input or output");
  thread_local std::vector<int8_t> codes;
  thread_local std::vector<float> block;
  const int64_t rows = block_rows(k);
  codes.resize(static_cast<size_t>(std::min(rows, n) * k));
  block.resize(codes.size());
  for (int64_t j0 = 0; j0 < n; j0 += rows) {
    const int64_t nb = std::min(rows, n - j0);
    detail::unpack_int8_rows(pw, j0, j0 + nb, codes.data());
    // Dequantized exactly as fake-quant dequantizes the weight: (q - 0) * s per output channel.
    ScaleLayout per_row;
    per_row.inner = std::max<int64_t>(k, 1);
    per_row.count = nb;
    per_row.scale_shape = {nb};
    dequantize_int<int8_t>(codes.data(), nb * k, per_row, pw.channel_scales.data() + j0, nullptr,
                           -128, 127, block.data());
    gemm_block(x, m, k, ldx, block.data(), j0, nb, bias, y, ldy);
  }
}

// ---- LLM.int8() ----

struct LlmInt8Weight::State {
  int64_t n = 0, k = 0;
  std::vector<int64_t> outliers, regular;
  std::vector<float> outlier_weight;  // [n, outliers]
  Int8Weight int8;
};

LlmInt8Weight::LlmInt8Weight(std::vector<int64_t> outlier_columns, const float* outlier_weight,
                             Int8Weight regular) {
  constexpr const char* kOp = "llm_int8_weight";
  OCTET_CHECK(regular.defined(), kOp, "the regular-column Int8Weight is empty");
  auto state = std::make_shared<State>();
  const auto outliers = static_cast<int64_t>(outlier_columns.size());
  state->n = regular.n();
  state->k = regular.k() + outliers;
  check_columns("llm_int8_weight: outlier columns", outlier_columns.data(), outliers, state->k);
  OCTET_CHECK(outlier_weight != nullptr || state->n * outliers == 0, kOp,
              "outlier weight is null for ", outliers, " outlier columns");
  state->outlier_weight.assign(outlier_weight, outlier_weight + state->n * outliers);
  state->regular = complement_columns(outlier_columns, state->k);
  state->outliers = std::move(outlier_columns);
  state->int8 = std::move(regular);
  state_ = std::move(state);
}

int64_t LlmInt8Weight::n() const { return state_ ? state_->n : 0; }
int64_t LlmInt8Weight::k() const { return state_ ? state_->k : 0; }

const std::vector<int64_t>& LlmInt8Weight::outlier_columns() const {
  OCTET_CHECK(state_ != nullptr, "llm_int8_gemm", "the LlmInt8Weight is empty");
  return state_->outliers;
}

size_t LlmInt8Weight::resident_bytes() const {
  if (!state_) return 0;
  return sizeof(State) + state_->int8.resident_bytes() +
         state_->outlier_weight.size() * sizeof(float) +
         (state_->outliers.size() + state_->regular.size()) * sizeof(int64_t);
}

void llm_int8_gemm(const float* x, int64_t m, int64_t k, int64_t ldx, const LlmInt8Weight& w,
                   const float* bias, float* y, int64_t ldy) {
  constexpr const char* kOp = "llm_int8_gemm";
  OCTET_CHECK(w.state_ != nullptr, kOp, "the LlmInt8Weight is empty");
  const LlmInt8Weight::State& s = *w.state_;
  check_shapes(kOp, m, s.n, k, ldx, ldy, s.k);
  if (m == 0 || s.n == 0) return;
  OCTET_CHECK(y != nullptr && (x != nullptr || k == 0), kOp, "null input or output");
  const auto regular = static_cast<int64_t>(s.regular.size());
  const auto outliers = static_cast<int64_t>(s.outliers.size());
  thread_local std::vector<float> gathered, scales;
  thread_local std::vector<int8_t> codes;
  // Regular columns: per-token dynamic int8 over those columns only, as the fake-quant layer does.
  const float* x_regular = x;
  int64_t ld_regular = ldx;
  if (outliers > 0) {
    gathered.resize(static_cast<size_t>(m * std::max(regular, outliers)));
    gather_columns(x, m, ldx, s.regular.data(), regular, gathered.data());
    x_regular = gathered.data();
    ld_regular = regular;
  }
  codes.resize(static_cast<size_t>(m * regular));
  scales.resize(static_cast<size_t>(m));
  quantize_rows_int8(x_regular, m, regular, ld_regular, codes.data(), scales.data());
  Int8Activations a;
  a.codes = codes.data();
  a.m = m;
  a.k = regular;
  a.ld = regular;
  a.scales = scales.data();
  a.scale_count = m;
  int8_gemm(a, s.int8, bias, y, ldy);
  if (outliers == 0) return;
  // Outlier columns in f32, added onto the int8 part (oneDNN's sum post-op), as the layer's
  // add(int8_part, outlier_part) does.
  gather_columns(x, m, ldx, s.outliers.data(), outliers, gathered.data());
  const View xo = f32_matrix(gathered.data(), m, outliers, outliers, 1);
  const View wo = f32_matrix(s.outlier_weight.data(), outliers, s.n, 1, outliers);
  const View c = f32_matrix(y, m, s.n, ldy, 1);
  cpu::matmul(xo, wo, c, nullptr, true);
}

}  // namespace octet::quant
