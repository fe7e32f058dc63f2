#pragma once
// The exact int8 GEMM kernels behind quant::int8_gemm, and the layouts they read.
//
// Why not oneDNN everywhere: without VNNI, oneDNN's int8 GEMMs sum u8*s8 pairs in a saturating
// int16 (VPMADDUBSW) and are wrong for ordinary full-range codes (qgemm.h). The AVX2 kernel
// widens both operands to int16 and multiplies with VPMADDWD, whose int32 pair sums cannot
// overflow for 8-bit inputs: 16 MACs per multiply uop, the rate of oneDNN's inexact
// VPMADDUBSW + VPMADDWD pair, and twice the MACs of an f32 FMA. On Zen 3 it runs at ~75 GMAC/s
// per core (k = 4096), against oneDNN's f32 sgemm at ~42 GMAC/s.
//
// Layouts of the AVX2 and portable kernels (padded with zeros: the tiles never branch on edges):
// - weights: panels of kPanelCols output channels; panel p holds, for each pair t of k indices,
//   the 32 bytes w[16p+c][2t], w[16p+c][2t+1] for c = 0..15 (int8, widened in the kernel).
// - activations: tiles of kTileRows rows; tile r holds, for each pair t, the int16 pairs
//   a[6r+i][2t], a[6r+i][2t+1] for i = 0..5, so one 32-bit broadcast feeds a VPMADDWD.
#include <cstdint>
#include <vector>

#include "ops/quant/qgemm.h"

namespace octet::quant::detail {

inline constexpr int64_t kPanelCols = 16;
inline constexpr int64_t kTileRows = 6;
// |a - zp| <= 255 and |w| <= 128 keep sum_k (a - zp) * w inside int32 up to this depth.
inline constexpr int64_t kMaxInt8Depth = 65536;

inline int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// kAvx2 and kPortable read the panel layout above; kOneDnn runs oneDNN's int8 matmul on plain
// row-major codes, chosen only where oneDNN multiplies exactly (VNNI's VPDPBUSD or AMX).
enum class Int8Kernel { kAvx2, kPortable, kOneDnn };
Int8Kernel best_int8_kernel();
bool onednn_int8_is_exact();
// Whether `kernel` runs here and gives exact int32 sums (kAvx2 needs the ISA, kOneDnn VNNI/AMX).
bool int8_kernel_is_exact(Int8Kernel kernel);

struct PackedInt8Weight {
  int64_t n = 0, k = 0;
  int64_t k_pairs = 0;  // ceil(k / 2)
  int64_t panels = 0;   // ceil(n / kPanelCols)
  Int8Kernel kernel = Int8Kernel::kPortable;
  std::vector<float> scales;          // as given: 1 or n
  std::vector<float> channel_scales;  // expanded to panels * kPanelCols
  std::vector<int32_t> row_sums;      // sum_k w[j, k], panels * kPanelCols
  // kernel's layout: panels * k_pairs * 32 bytes, or for kOneDnn plain [n, k]
  std::vector<int8_t> codes;

  const int8_t* panel(int64_t p) const { return codes.data() + p * k_pairs * 2 * kPanelCols; }
};

PackedInt8Weight pack_int8_weight(const int8_t* codes, int64_t n, int64_t k,
                                  std::vector<float> scales, Int8Kernel kernel);

// Rows [row_begin, row_end) of the codes, row-major, whatever the layout.
void unpack_int8_rows(const PackedInt8Weight& w, int64_t row_begin, int64_t row_end, int8_t* out);

// The f32 epilogue: y[i, j] = float(acc - zp * row_sums[j]) * (a_scale(i) * channel_scales[j])
// + bias[j], over the block of rows [row0, row0 + rows) x columns [col0, col0 + cols) whose
// int32 accumulators are acc (leading dimension ld_acc).
struct Int8Epilogue {
  const float* a_scales = nullptr;
  int64_t a_scale_stride = 0;  // 0 per tensor, 1 per token
  int32_t zero_point = 0;
  const float* bias = nullptr;  // n values or null
  float* y = nullptr;
  int64_t ldy = 0;
  int64_t m = 0, n = 0;
};
Int8Epilogue make_int8_epilogue(const Int8Activations& a, int64_t n, const float* bias, float* y,
                                int64_t ldy);
void apply_int8_epilogue(const int32_t* acc, int64_t ld_acc, int64_t row0, int64_t rows,
                         int64_t col0, int64_t cols, const PackedInt8Weight& w,
                         const Int8Epilogue& e);

// y = the int8 GEMM through w.kernel; arguments already checked (quant::int8_gemm does).
void int8_gemm_run(const Int8Activations& a, const PackedInt8Weight& w, const float* bias, float* y,
                   int64_t ldy);
void int8_gemm_onednn(const Int8Activations& a, const PackedInt8Weight& w, const Int8Epilogue& e);

}  // namespace octet::quant::detail
