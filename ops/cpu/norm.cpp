#include "ops/cpu/norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cpu/dispatch.h"
#include "ops/norm_checks.h"

namespace octet::cpu {
namespace {

// Layer norm and RMS norm share every loop: RMS norm is the uncentred case (mean taken as 0,
// no bias). A row of a few hundred elements sits in L1 after its first read, so each kernel makes
// two passes per row: statistics, then the output.

// dweight/dbias are summed per block of this many rows, then the blocks in order: the result
// does not depend on how OpenMP splits the blocks among threads.
constexpr int64_t kRowsPerBlock = 32;
constexpr int64_t kMinParallelElements = 1 << 15;

using Rows = NormRows;

template <bool kCentered, typename T>
void forward_typed(const View& x, const View& weight, const View* bias, double eps, const View& out,
                   const View* mean, const View& rstd, Rows rows) {
  const int64_t n = rows.dim;
  const T* px = x.ptr<T>();
  const T* pw = weight.ptr<T>();
  const T* pb = bias ? bias->ptr<T>() : nullptr;
  T* py = out.ptr<T>();
  T* pmean = mean ? mean->ptr<T>() : nullptr;
  T* prstd = rstd.ptr<T>();
  const T inv_n = T(1) / T(n);
#pragma omp parallel for schedule(static) if (rows.count * n >= kMinParallelElements)
  for (int64_t r = 0; r < rows.count; ++r) {
    const T* xr = px + r * n;
    T* yr = py + r * n;
    // Mean and variance in one pass over the row, shifted by its first element: E[x^2] - E[x]^2
    // alone cancels catastrophically when |mean| >> std, but the shift puts the mean within a few
    // std of zero, so the saved pass costs no accuracy (tested with mean 1000 x std).
    const T shift = kCentered ? xr[0] : T(0);
    T sum = 0, sum_sq = 0;
#pragma omp simd reduction(+ : sum, sum_sq)
    for (int64_t i = 0; i < n; ++i) {
      const T d = xr[i] - shift;
      sum += d;
      sum_sq += d * d;
    }
    const T mean_shifted = kCentered ? sum * inv_n : T(0);
    const T mu = shift + mean_shifted;
    const T var = std::max(sum_sq * inv_n - mean_shifted * mean_shifted, T(0));
    const T rs = T(1) / std::sqrt(var + T(eps));
    if (pb) {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - mu) * rs * pw[i] + pb[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - mu) * rs * pw[i];
    }
    if constexpr (kCentered) pmean[r] = mu;
    prstd[r] = rs;
  }
}

// With xh = (x - mean) * rstd and gw = g * w:
//   dx = rstd * (gw - mean(gw) - xh * mean(gw * xh))    (layer norm)
//   dx = rstd * (gw - xh * mean(gw * xh))               (RMS norm: no centring term)
//   dweight = sum over rows of g * xh,  dbias = sum over rows of g.
template <bool kCentered, bool kParams, typename T>
void backward_block(const T* pg, const T* px, const T* pw, const T* pmean, const T* prstd, T* pdx,
                    T* pdw, T* pdb, int64_t r0, int64_t r1, int64_t n) {
  const T inv_n = T(1) / T(n);
  for (int64_t r = r0; r < r1; ++r) {
    const T* gr = pg + r * n;
    const T* xr = px + r * n;
    const T mu = kCentered ? pmean[r] : T(0);
    const T rs = prstd[r];
    T sum_gw = 0, sum_gw_xh = 0;
#pragma omp simd reduction(+ : sum_gw, sum_gw_xh)
    for (int64_t i = 0; i < n; ++i) {
      const T xh = (xr[i] - mu) * rs;
      const T gw = gr[i] * pw[i];
      sum_gw += gw;
      sum_gw_xh += gw * xh;
      if constexpr (kParams) pdw[i] += gr[i] * xh;
      if constexpr (kParams && kCentered) pdb[i] += gr[i];  // RMS norm has no bias
    }
    if (!pdx) continue;
    const T mean_gw = kCentered ? sum_gw * inv_n : T(0);
    const T mean_gw_xh = sum_gw_xh * inv_n;
    T* dxr = pdx + r * n;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const T xh = (xr[i] - mu) * rs;
      dxr[i] = rs * (gr[i] * pw[i] - mean_gw - xh * mean_gw_xh);
    }
  }
}

template <bool kCentered, typename T>
void backward_typed(const View& grad_out, const View& x, const View& weight, const View* mean,
                    const View& rstd, const View* dx, const View* dweight, const View* dbias,
                    Rows rows) {
  const int64_t n = rows.dim;
  const T* pg = grad_out.ptr<T>();
  const T* px = x.ptr<T>();
  const T* pw = weight.ptr<T>();
  const T* pmean = mean ? mean->ptr<T>() : nullptr;
  const T* prstd = rstd.ptr<T>();
  T* pdx = dx ? dx->ptr<T>() : nullptr;
  const bool params = dweight || dbias;
  const int64_t blocks = (rows.count + kRowsPerBlock - 1) / kRowsPerBlock;
  // Per block: dweight partial then dbias partial (the latter unused by RMS norm).
  std::vector<T> partial(params ? blocks * 2 * n : 0, T(0));
  const bool parallel = blocks > 1 && rows.count * n >= kMinParallelElements;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t r0 = b * kRowsPerBlock, r1 = std::min(rows.count, r0 + kRowsPerBlock);
    if (params) {
      T* pdw = partial.data() + b * 2 * n;
      backward_block<kCentered, true>(pg, px, pw, pmean, prstd, pdx, pdw, pdw + n, r0, r1, n);
    } else {
      backward_block<kCentered, false, T>(pg, px, pw, pmean, prstd, pdx, nullptr, nullptr, r0, r1,
                                          n);
    }
  }
  if (!params) return;
  T* pdw = dweight ? dweight->ptr<T>() : nullptr;
  T* pdb = dbias ? dbias->ptr<T>() : nullptr;
  if (pdw) std::fill(pdw, pdw + n, T(0));
  if (pdb) std::fill(pdb, pdb + n, T(0));
  for (int64_t b = 0; b < blocks; ++b) {
    const T* part = partial.data() + b * 2 * n;
    if (pdw) {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) pdw[i] += part[i];
    }
    if (pdb) {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) pdb[i] += part[n + i];
    }
  }
}

}  // namespace

void layer_norm_forward(const View& x, const View& weight, const View* bias, double eps,
                        const View& out, const View& mean, const View& rstd) {
  const char* op = "layer_norm";
  const Rows rows = check_layer_norm_forward(x, weight, bias, out, mean, rstd);
  dispatch_float(x.dtype, op, [&](auto t) {
    forward_typed<true, decltype(t)>(x, weight, bias, eps, out, &mean, rstd, rows);
  });
}

void layer_norm_backward(const View& grad_out, const View& x, const View& weight, const View& mean,
                         const View& rstd, const View* dx, const View* dweight, const View* dbias) {
  const char* op = "layer_norm_backward";
  const Rows rows = check_layer_norm_backward(grad_out, x, weight, mean, rstd, dx, dweight, dbias);
  dispatch_float(x.dtype, op, [&](auto t) {
    backward_typed<true, decltype(t)>(grad_out, x, weight, &mean, rstd, dx, dweight, dbias, rows);
  });
}

void rms_norm_forward(const View& x, const View& weight, double eps, const View& out,
                      const View& rstd) {
  const char* op = "rms_norm";
  const Rows rows = check_rms_norm_forward(x, weight, out, rstd);
  dispatch_float(x.dtype, op, [&](auto t) {
    forward_typed<false, decltype(t)>(x, weight, nullptr, eps, out, nullptr, rstd, rows);
  });
}

void rms_norm_backward(const View& grad_out, const View& x, const View& weight, const View& rstd,
                       const View* dx, const View* dweight) {
  const char* op = "rms_norm_backward";
  const Rows rows = check_rms_norm_backward(grad_out, x, weight, rstd, dx, dweight);
  dispatch_float(x.dtype, op, [&](auto t) {
    backward_typed<false, decltype(t)>(grad_out, x, weight, nullptr, rstd, dx, dweight, nullptr,
                                       rows);
  });
}

}  // namespace octet::cpu
