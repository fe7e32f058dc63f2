#include "ops/quant/qgemm_kernel.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

namespace octet::quant::detail {
namespace {

constexpr int64_t kPairBytes = 2 * kPanelCols;  // one k pair of a weight panel
constexpr int64_t kTilePair = 2 * kTileRows;    // int16 values per k pair of an activation tile
// Work is split into blocks of tiles x panels: a block's weight panels (4 x 16 x k bytes, 256 KB
// at k = 4096) stay in L2 while its activation tiles stream past, and each tile (6 x k int16)
// is read from L1 for every panel of the group.
constexpr int64_t kPanelsPerBlock = 4;
constexpr int64_t kTilesPerBlock = 16;
// Below this many multiply-adds a parallel region costs more than the product.
constexpr int64_t kParallelMacs = int64_t{1} << 20;

using Accumulators = int32_t[kTileRows][kPanelCols];

// ---- micro-kernels: acc = the exact int32 product of one activation tile and one weight panel --

void tile_portable(const int16_t* a, const int8_t* b, int64_t k_pairs, Accumulators& acc) {
  std::memset(acc, 0, sizeof(Accumulators));
  for (int64_t t = 0; t < k_pairs; ++t, a += kTilePair, b += kPairBytes) {
    for (int64_t i = 0; i < kTileRows; ++i) {
      const int32_t a0 = a[2 * i], a1 = a[2 * i + 1];
      for (int64_t c = 0; c < kPanelCols; ++c) acc[i][c] += a0 * b[2 * c] + a1 * b[2 * c + 1];
    }
  }
}

#if defined(__x86_64__)
// clang-format off
// One row of the tile: broadcast its int16 pair of k values, multiply-add against both weight
// vectors (16 channels), accumulate.
#define OCTET_QGEMM_ROW(offset, acc0, acc1)                   \
  "vpbroadcastd " #offset "(%[a]), %%ymm2\n\t"               \
  "vpmaddwd %%ymm0, %%ymm2, %%ymm3\n\t"                      \
  "vpaddd %%ymm3, %%" #acc0 ", %%" #acc0 "\n\t"              \
  "vpmaddwd %%ymm1, %%ymm2, %%ymm2\n\t"                      \
  "vpaddd %%ymm2, %%" #acc1 ", %%" #acc1 "\n\t"

// AVX2, written as one asm loop because the tile needs all 16 ymm registers (12 accumulators,
// 2 weight vectors, a broadcast and a product): from intrinsics GCC 12 spilled an accumulator to
// the stack, and the tile ran at 50 instead of 74 GMAC/s per core (measured, k = 4096).
void tile_avx2(const int16_t* a, const int8_t* b, int64_t k_pairs, Accumulators& acc) {
  static_assert(kTileRows == 6 && kPanelCols == 16, "the asm tile is 6 x 16");
  asm volatile(
      "vpxor %%xmm4, %%xmm4, %%xmm4\n\t"
      "vpxor %%xmm5, %%xmm5, %%xmm5\n\t"
      "vpxor %%xmm6, %%xmm6, %%xmm6\n\t"
      "vpxor %%xmm7, %%xmm7, %%xmm7\n\t"
      "vpxor %%xmm8, %%xmm8, %%xmm8\n\t"
      "vpxor %%xmm9, %%xmm9, %%xmm9\n\t"
      "vpxor %%xmm10, %%xmm10, %%xmm10\n\t"
      "vpxor %%xmm11, %%xmm11, %%xmm11\n\t"
      "vpxor %%xmm12, %%xmm12, %%xmm12\n\t"
      "vpxor %%xmm13, %%xmm13, %%xmm13\n\t"
      "vpxor %%xmm14, %%xmm14, %%xmm14\n\t"
      "vpxor %%xmm15, %%xmm15, %%xmm15\n\t"
      "test %[n], %[n]\n\t"
      "jz 2f\n\t"
      "1:\n\t"
      // Weights stay int8 in memory and are sign-extended here: half the bytes of int16 weights
      // (what bounds small-m GEMMs) for ~8% of the tile's rate with data in L1 (measured).
      "vpmovsxbw (%[b]), %%ymm0\n\t"
      "vpmovsxbw 16(%[b]), %%ymm1\n\t"
      OCTET_QGEMM_ROW(0, ymm4, ymm5)
      OCTET_QGEMM_ROW(4, ymm6, ymm7)
      OCTET_QGEMM_ROW(8, ymm8, ymm9)
      OCTET_QGEMM_ROW(12, ymm10, ymm11)
      OCTET_QGEMM_ROW(16, ymm12, ymm13)
      OCTET_QGEMM_ROW(20, ymm14, ymm15)
      "add $32, %[b]\n\t"
      "add $24, %[a]\n\t"
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      "2:\n\t"
      "vmovdqu %%ymm4, 0(%[c])\n\t"
      "vmovdqu %%ymm5, 32(%[c])\n\t"
      "vmovdqu %%ymm6, 64(%[c])\n\t"
      "vmovdqu %%ymm7, 96(%[c])\n\t"
      "vmovdqu %%ymm8, 128(%[c])\n\t"
      "vmovdqu %%ymm9, 160(%[c])\n\t"
      "vmovdqu %%ymm10, 192(%[c])\n\t"
      "vmovdqu %%ymm11, 224(%[c])\n\t"
      "vmovdqu %%ymm12, 256(%[c])\n\t"
      "vmovdqu %%ymm13, 288(%[c])\n\t"
      "vmovdqu %%ymm14, 320(%[c])\n\t"
      "vmovdqu %%ymm15, 352(%[c])\n\t"
      // Callers may be SSE code (a build without -march=native): no AVX-SSE transition penalty.
      "vzeroupper\n\t"
      : [a] "+r"(a), [b] "+r"(b), [n] "+r"(k_pairs)
      : [c] "r"(&acc[0][0])
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc");
}
#undef OCTET_QGEMM_ROW
// clang-format on

bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
#else
void tile_avx2(const int16_t* a, const int8_t* b, int64_t k_pairs, Accumulators& acc) {
  tile_portable(a, b, k_pairs, acc);
}
bool cpu_has_avx2() { return false; }
#endif

// Activations [m, k] (ld) to int16 tiles (layout in the header): unsigned codes zero-extended,
// signed ones sign-extended, so int16 holds both exactly.
template <typename Code>
void pack_activations(const Code* codes, int64_t m, int64_t k, int64_t ld, int16_t* out) {
  const int64_t tiles = (m + kTileRows - 1) / kTileRows, k_pairs = (k + 1) / 2;
#pragma omp parallel for schedule(static) if (m * k > kParallelMacs / 16)
  for (int64_t r = 0; r < tiles; ++r) {
    int16_t* tile = out + r * k_pairs * kTilePair;
    for (int64_t i = 0; i < kTileRows; ++i) {
      const int64_t row = r * kTileRows + i;
      int16_t* dst = tile + 2 * i;
      if (row >= m) {
        for (int64_t t = 0; t < k_pairs; ++t) dst[t * kTilePair] = dst[t * kTilePair + 1] = 0;
        continue;
      }
      const Code* src = codes + row * ld;
      for (int64_t t = 0; t < k / 2; ++t) {
        dst[t * kTilePair] = src[2 * t];
        dst[t * kTilePair + 1] = src[2 * t + 1];
      }
      if (k % 2 == 1) {
        dst[(k_pairs - 1) * kTilePair] = src[k - 1];
        dst[(k_pairs - 1) * kTilePair + 1] = 0;
      }
    }
  }
}

void int8_gemm_tiles(const int16_t* a_tiles, const PackedInt8Weight& w, const Int8Epilogue& e) {
  const int64_t tiles = (e.m + kTileRows - 1) / kTileRows;
  const int64_t tile_values = w.k_pairs * kTilePair;
  const int64_t tile_blocks = (tiles + kTilesPerBlock - 1) / kTilesPerBlock;
  const int64_t panel_blocks = (w.panels + kPanelsPerBlock - 1) / kPanelsPerBlock;
  const bool avx2 = w.kernel == Int8Kernel::kAvx2 && cpu_has_avx2();
  const bool parallel = e.m * e.n * std::max<int64_t>(w.k, 1) > kParallelMacs;
  // Panel blocks outermost: with a static schedule each thread owns a contiguous range of output
  // columns, so its weight panels are read from memory once per call (what bounds small m).
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
  for (int64_t pb = 0; pb < panel_blocks; ++pb) {
    for (int64_t tb = 0; tb < tile_blocks; ++tb) {
      Accumulators acc;
      const int64_t p_end = std::min(w.panels, (pb + 1) * kPanelsPerBlock);
      const int64_t t_end = std::min(tiles, (tb + 1) * kTilesPerBlock);
      for (int64_t r = tb * kTilesPerBlock; r < t_end; ++r) {
        const int16_t* a = a_tiles + r * tile_values;
        for (int64_t p = pb * kPanelsPerBlock; p < p_end; ++p) {
          if (avx2) {
            tile_avx2(a, w.panel(p), w.k_pairs, acc);
          } else {
            tile_portable(a, w.panel(p), w.k_pairs, acc);
          }
          const int64_t row0 = r * kTileRows, col0 = p * kPanelCols;
          apply_int8_epilogue(&acc[0][0], kPanelCols, row0, std::min(kTileRows, e.m - row0), col0,
                              std::min(kPanelCols, e.n - col0), w, e);
        }
      }
    }
  }
}

}  // namespace

bool int8_kernel_is_exact(Int8Kernel kernel) {
  switch (kernel) {
    case Int8Kernel::kAvx2:
      return cpu_has_avx2();
    case Int8Kernel::kOneDnn:
      return onednn_int8_is_exact();
    case Int8Kernel::kPortable:
      break;
  }
  return true;
}

Int8Kernel best_int8_kernel() {
  if (onednn_int8_is_exact()) return Int8Kernel::kOneDnn;
  return cpu_has_avx2() ? Int8Kernel::kAvx2 : Int8Kernel::kPortable;
}

PackedInt8Weight pack_int8_weight(const int8_t* codes, int64_t n, int64_t k,
                                  std::vector<float> scales, Int8Kernel kernel) {
  PackedInt8Weight w;
  w.n = n;
  w.k = k;
  w.k_pairs = (k + 1) / 2;
  w.panels = (n + kPanelCols - 1) / kPanelCols;
  w.kernel = kernel;
  const int64_t padded_n = w.panels * kPanelCols;
  w.channel_scales.assign(static_cast<size_t>(padded_n), 0.0f);
  for (int64_t j = 0; j < n; ++j) w.channel_scales[j] = scales.size() == 1 ? scales[0] : scales[j];
  w.scales = std::move(scales);
  w.row_sums.assign(static_cast<size_t>(padded_n), 0);
  const bool plain = kernel == Int8Kernel::kOneDnn;
  w.codes.assign(static_cast<size_t>(plain ? n * k : w.panels * w.k_pairs * kPairBytes), 0);
#pragma omp parallel for schedule(static) if (n * k > kParallelMacs)
  for (int64_t j = 0; j < n; ++j) {
    const int8_t* row = codes + j * k;
    int32_t sum = 0;
    for (int64_t kk = 0; kk < k; ++kk) sum += row[kk];
    w.row_sums[j] = sum;
    if (plain) {
      std::copy_n(row, k, w.codes.data() + j * k);
      continue;
    }
    int8_t* out = w.codes.data() + (j / kPanelCols) * w.k_pairs * kPairBytes + (j % kPanelCols) * 2;
    for (int64_t kk = 0; kk < k; ++kk) out[(kk / 2) * kPairBytes + kk % 2] = row[kk];
  }
  return w;
}

void unpack_int8_rows(const PackedInt8Weight& w, int64_t row_begin, int64_t row_end, int8_t* out) {
  if (w.kernel == Int8Kernel::kOneDnn) {
    std::copy_n(w.codes.data() + row_begin * w.k, (row_end - row_begin) * w.k, out);
    return;
  }
#pragma omp parallel for schedule(static) if ((row_end - row_begin) * w.k > kParallelMacs)
  for (int64_t j = row_begin; j < row_end; ++j) {
    const int8_t* in = w.panel(j / kPanelCols) + (j % kPanelCols) * 2;
    int8_t* row = out + (j - row_begin) * w.k;
    for (int64_t kk = 0; kk < w.k; ++kk) row[kk] = in[(kk / 2) * kPairBytes + kk % 2];
  }
}

Int8Epilogue make_int8_epilogue(const Int8Activations& a, int64_t n, const float* bias, float* y,
                                int64_t ldy) {
  Int8Epilogue e;
  e.a_scales = a.scales;
  e.a_scale_stride = a.scale_count == 1 ? 0 : 1;
  e.zero_point = a.zero_point;
  e.bias = bias;
  e.y = y;
  e.ldy = ldy;
  e.m = a.m;
  e.n = n;
  return e;
}

void apply_int8_epilogue(const int32_t* acc, int64_t ld_acc, int64_t row0, int64_t rows,
                         int64_t col0, int64_t cols, const PackedInt8Weight& w,
                         const Int8Epilogue& e) {
  const int32_t* row_sums = w.row_sums.data() + col0;
  const float* w_scales = w.channel_scales.data() + col0;
  for (int64_t i = 0; i < rows; ++i) {
    const int32_t* a = acc + i * ld_acc;
    const float a_scale = e.a_scales[(row0 + i) * e.a_scale_stride];
    float* y = e.y + (row0 + i) * e.ldy + col0;
    // zp * row_sum and the difference stay inside int32 for k <= kMaxInt8Depth.
    if (e.bias) {
      const float* bias = e.bias + col0;
      for (int64_t c = 0; c < cols; ++c) {
        const int32_t v = a[c] - e.zero_point * row_sums[c];
        y[c] = static_cast<float>(v) * (a_scale * w_scales[c]) + bias[c];
      }
    } else {
      for (int64_t c = 0; c < cols; ++c) {
        const int32_t v = a[c] - e.zero_point * row_sums[c];
        y[c] = static_cast<float>(v) * (a_scale * w_scales[c]);
      }
    }
  }
}

void int8_gemm_run(const Int8Activations& a, const PackedInt8Weight& w, const float* bias, float* y,
                   int64_t ldy) {
  const Int8Epilogue e = make_int8_epilogue(a, w.n, bias, y, ldy);
  if (w.kernel == Int8Kernel::kOneDnn) {
    int8_gemm_onednn(a, w, e);
    return;
  }
  const int64_t tiles = (a.m + kTileRows - 1) / kTileRows;
  thread_local std::vector<int16_t> a_tiles;
  a_tiles.resize(static_cast<size_t>(tiles * w.k_pairs * kTilePair));
  if (a.is_unsigned) {
    pack_activations(static_cast<const uint8_t*>(a.codes), a.m, a.k, a.ld, a_tiles.data());
  } else {
    pack_activations(static_cast<const int8_t*>(a.codes), a.m, a.k, a.ld, a_tiles.data());
  }
  int8_gemm_tiles(a_tiles.data(), w, e);
}

}  // namespace octet::quant::detail
