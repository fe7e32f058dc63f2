// The int8 x int8 path of qgemm.h: weight preparation, argument checks, dynamic per-token
// quantization, and the call into the exact kernel (qgemm_kernel.h).
#include "ops/quant/qgemm.h"

#include <algorithm>
#include <cmath>

#include "ops/error.h"
#include "ops/quant/dynamic_scales.h"
#include "ops/quant/qgemm_kernel.h"
#include "ops/quant/quantize.h"
#include "ops/quant/scale_rules.h"

namespace octet::quant {
namespace {

constexpr const char* kGemmOp = "int8_gemm";

void check_scales(const char* op, const std::vector<float>& scales, int64_t n) {
  const auto count = static_cast<int64_t>(scales.size());
  OCTET_CHECK(count == 1 || count == n, op, "weight scale count must be 1 (per tensor) or n = ", n,
              " (per output channel), got ", count);
  for (int64_t j = 0; j < count; ++j) {
    OCTET_CHECK(std::isfinite(scales[j]) && scales[j] > 0.0f, op, "weight scale ", j,
                " must be positive and finite, got ", scales[j]);
  }
}

}  // namespace

// ---- Int8Weight ----

Int8Weight::Int8Weight(const int8_t* codes, int64_t n, int64_t k, std::vector<float> scales) {
  constexpr const char* kOp = "int8_weight";
  OCTET_CHECK(n >= 0 && k >= 0, kOp, "negative shape [", n, ", ", k, "]");
  OCTET_CHECK(k <= detail::kMaxInt8Depth, kOp, "k = ", k, " exceeds ", detail::kMaxInt8Depth,
              ", beyond which int32 accumulators of int8 products can overflow");
  OCTET_CHECK(codes != nullptr || n * k == 0, kOp, "codes are null for a [", n, ", ", k,
              "] weight");
  check_scales(kOp, scales, n);
  state_ = std::make_shared<const detail::PackedInt8Weight>(
      detail::pack_int8_weight(codes, n, k, std::move(scales), detail::best_int8_kernel()));
}

const detail::PackedInt8Weight& Int8Weight::packed() const {
  OCTET_CHECK(state_ != nullptr, kGemmOp, "the Int8Weight is empty (default-constructed)");
  return *state_;
}

int64_t Int8Weight::n() const { return packed().n; }
int64_t Int8Weight::k() const { return packed().k; }
const std::vector<float>& Int8Weight::scales() const { return packed().scales; }

size_t Int8Weight::resident_bytes() const {
  if (!state_) return 0;
  const detail::PackedInt8Weight& w = *state_;
  return sizeof(w) + w.codes.size() + w.row_sums.size() * sizeof(int32_t) +
         (w.channel_scales.size() + w.scales.size()) * sizeof(float);
}

// ---- int8_gemm ----

void int8_gemm(const Int8Activations& a, const Int8Weight& w, const float* bias, float* y,
               int64_t ldy) {
  const detail::PackedInt8Weight& pw = w.packed();
  OCTET_CHECK(a.m >= 0 && a.k >= 0, kGemmOp, "negative activation shape [", a.m, ", ", a.k, "]");
  OCTET_CHECK(a.k == pw.k, kGemmOp, "k mismatch: activations [", a.m, ", ", a.k, "] against an [",
              pw.n, ", ", pw.k, "] weight");
  OCTET_CHECK(a.ld >= a.k, kGemmOp, "activation leading dimension ", a.ld, " is below k = ", a.k);
  OCTET_CHECK(a.scale_count == 1 || a.scale_count == a.m, kGemmOp,
              "activation scale count must be 1 (per tensor) or m = ", a.m, " (per token), got ",
              a.scale_count);
  OCTET_CHECK(ldy >= pw.n, kGemmOp, "output leading dimension ", ldy, " is below n = ", pw.n);
  const int32_t zp_lo = a.is_unsigned ? 0 : -128, zp_hi = a.is_unsigned ? 255 : 127;
  OCTET_CHECK(a.zero_point >= zp_lo && a.zero_point <= zp_hi, kGemmOp, "zero point ", a.zero_point,
              " is outside the ", a.is_unsigned ? "u8" : "s8", " range [", zp_lo, ", ", zp_hi, "]");
  if (a.m == 0 || pw.n == 0) return;
  OCTET_CHECK(a.scales != nullptr, kGemmOp, "activation scales are null");
  OCTET_CHECK(a.codes != nullptr || a.k == 0, kGemmOp, "activation codes are null");
  OCTET_CHECK(y != nullptr, kGemmOp, "output is null");

  detail::int8_gemm_run(a, pw, bias, y, ldy);
}

// ---- quantize_rows_int8 ----

void quantize_rows_int8(const float* x, int64_t m, int64_t k, int64_t ldx, int8_t* codes,
                        float* scales) {
  constexpr const char* kOp = "quantize_rows_int8";
  OCTET_CHECK(m >= 0 && k >= 0, kOp, "negative shape [", m, ", ", k, "]");
  OCTET_CHECK(ldx >= k, kOp, "leading dimension ", ldx, " is below k = ", k);
  if (m == 0) return;
  OCTET_CHECK(scales != nullptr && (k == 0 || (x != nullptr && codes != nullptr)), kOp,
              "null input, codes or scales");
  static const QuantSpec spec =
      QuantSpec::int8_symmetric().per_token().with_source(ScaleSource::kCurrent);
  // One row at a time is the per-token layout restricted to that row (rows may be strided).
  ScaleLayout row;
  row.inner = std::max<int64_t>(k, 1);
  row.count = 1;
  row.scale_shape = {1};
  // Scales serially through the rule fake-quant's current scaling uses (it throws on a
  // non-finite row, which must not happen inside a parallel region); each row's reduction is
  // vectorised, and the codes, the costly part, are threaded.
  if (k == 0) {
    std::fill_n(scales, m, int_qparams(spec, 0.0f, 0.0f, kOp).scale);  // empty rows: the floor
    return;
  }
  for (int64_t i = 0; i < m; ++i) {
    current_scales(spec, x + i * ldx, k, row, scales + i, nullptr, kOp);
  }
#pragma omp parallel for schedule(static) if (m * k >= (int64_t{1} << 15))
  for (int64_t i = 0; i < m; ++i) {
    quantize_int<int8_t>(x + i * ldx, k, row, scales + i, nullptr, spec.qmin, spec.qmax,
                         codes + i * k);
  }
}

}  // namespace octet::quant
