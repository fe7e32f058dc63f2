#include "ops/cpu/softmax.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>

#include "ops/cpu/dispatch.h"
#include "ops/cpu/fast_math.h"
#include "ops/row_checks.h"

namespace octet::cpu {
namespace {

// Rows are independent; below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelWork = 1 << 15;
// Interleaved chunks of rows keep the threads balanced when row lengths differ (causal rows grow
// with their index) without the cost of dynamic scheduling.
constexpr int kRowChunk = 8;

// e^x for the softmax rows (arguments x - max <= 0, -inf, or NaN): the vectorisable float exp,
// libm's for f64 (the gradcheck path).
template <typename T>
inline T row_exp(T x) {
  return fast_exp(x);
}

template <typename T>
T row_max(const T* x, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// y[j] = e^(scale * (x[j] - m)); returns their sum.
template <typename T>
T store_exp(const T* x, T m, T scale, T* y, int64_t n) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < n; ++j) {
    const T e = row_exp(scale * (x[j] - m));
    y[j] = e;
    s += e;
  }
  return s;
}

// sum_j e^(x[j] - m), nothing stored.
template <typename T>
T sum_exp(const T* x, T m, int64_t n) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < n; ++j) s += row_exp(x[j] - m);
  return s;
}

template <typename T>
T dot(const T* a, const T* b, int64_t n) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < n; ++j) s += a[j] * b[j];
  return s;
}

// The first n columns of a softmax row from its logits x, then zeros up to `width`.
template <typename T>
void softmax_row(const T* x, T scale, T* y, int64_t n, int64_t width) {
  const T m = row_max(x, n);
  const T inv = T(1) / store_exp(x, m, scale, y, n);
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) y[j] *= inv;
  for (int64_t j = n; j < width; ++j) y[j] = T(0);
}

// dx = scale * y * (dy - <dy, y>) on the first n columns, zeros up to `width`.
template <typename T>
void softmax_backward_row(const T* y, const T* dy, T scale, T* dx, int64_t n, int64_t width) {
  const T d = dot(dy, y, n);
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) dx[j] = scale * y[j] * (dy[j] - d);
  for (int64_t j = n; j < width; ++j) dx[j] = T(0);
}

// Calls row_fn(r) for every row r, in parallel when the problem is large.
template <typename Fn>
void for_each_row(int64_t rows, int64_t cols, Fn&& row_fn) {
#pragma omp parallel for schedule(static, kRowChunk) if (rows > 1 && rows * cols > kParallelWork)
  for (int64_t r = 0; r < rows; ++r) row_fn(r);
}

void check_causal(const char* op, const View& v, double scale) {
  OCTET_CHECK(v.dim() >= 2 && v.shape[v.dim() - 1] == v.shape[v.dim() - 2], op,
              "needs square [..., T, T] scores, got ", shape_str(v.shape));
  OCTET_CHECK(scale > 0, op, "scale must be > 0, got ", scale);
}

}  // namespace

void softmax_forward(const View& x, const View& y) {
  check_rows("softmax", {&x, &y});
  const int64_t cols = last_dim(x), rows = rows_of(x);
  dispatch_float(x.dtype, "softmax", [&](auto t) {
    using T = decltype(t);
    const T* px = x.ptr<T>();
    T* py = y.ptr<T>();
    for_each_row(rows, cols,
                 [&](int64_t r) { softmax_row(px + r * cols, T(1), py + r * cols, cols, cols); });
  });
}

void softmax_backward(const View& y, const View& dy, const View& dx) {
  check_rows("softmax_backward", {&y, &dy, &dx});
  const int64_t cols = last_dim(y), rows = rows_of(y);
  dispatch_float(y.dtype, "softmax_backward", [&](auto t) {
    using T = decltype(t);
    const T *py = y.ptr<T>(), *pdy = dy.ptr<T>();
    T* pdx = dx.ptr<T>();
    for_each_row(rows, cols, [&](int64_t r) {
      const int64_t o = r * cols;
      softmax_backward_row(py + o, pdy + o, T(1), pdx + o, cols, cols);
    });
  });
}

void log_softmax_forward(const View& x, const View& y) {
  check_rows("log_softmax", {&x, &y});
  const int64_t cols = last_dim(x), rows = rows_of(x);
  dispatch_float(x.dtype, "log_softmax", [&](auto t) {
    using T = decltype(t);
    const T* px = x.ptr<T>();
    T* py = y.ptr<T>();
    for_each_row(rows, cols, [&](int64_t r) {
      const T* xr = px + r * cols;
      T* yr = py + r * cols;
      const T m = row_max(xr, cols);
      const T log_sum = std::log(sum_exp(xr, m, cols));
      // (x - m) - log_sum, not x - (m + log_sum): x - m is exact near the max, so logits of
      // 1000 keep the precision of log_sum instead of the ulp of 1000.
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - m) - log_sum;
    });
  });
}

void log_softmax_backward(const View& y, const View& dy, const View& dx) {
  check_rows("log_softmax_backward", {&y, &dy, &dx});
  const int64_t cols = last_dim(y), rows = rows_of(y);
  dispatch_float(y.dtype, "log_softmax_backward", [&](auto t) {
    using T = decltype(t);
    const T *py = y.ptr<T>(), *pdy = dy.ptr<T>();
    T* pdx = dx.ptr<T>();
    for_each_row(rows, cols, [&](int64_t r) {
      const int64_t o = r * cols;
      T g = 0;
#pragma omp simd reduction(+ : g)
      for (int64_t j = 0; j < cols; ++j) g += pdy[o + j];
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) pdx[o + j] = pdy[o + j] - row_exp(py[o + j]) * g;
    });
  });
}

int64_t cross_entropy_forward(const View& logits, const View& targets, int64_t ignore_index,
                              const View& loss, const View& lse) {
  check_cross_entropy_shapes(logits, targets, {&loss, &lse});
  const int64_t rows = logits.shape[0], cols = logits.shape[1];
  const int64_t* tg = targets.ptr<int64_t>();
  // Checked up front, serially: an exception must not leave an OpenMP region.
  int64_t counted = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (tg[r] == ignore_index) continue;
    OCTET_CHECK(tg[r] >= 0 && tg[r] < cols, "cross_entropy", "target ", tg[r], " of row ", r,
                " is outside [0, ", cols, ") and is not ignore_index (", ignore_index, ")");
    ++counted;
  }
  dispatch_float(logits.dtype, "cross_entropy", [&](auto t) {
    using T = decltype(t);
    const T* px = logits.ptr<T>();
    T *ploss = loss.ptr<T>(), *plse = lse.ptr<T>();
    for_each_row(rows, cols, [&](int64_t r) {
      const T* xr = px + r * cols;
      const T m = row_max(xr, cols);
      const T log_sum = std::log(sum_exp(xr, m, cols));
      plse[r] = m + log_sum;
      // (m - x[t]) first: when the target is the max it is exactly 0, and the loss keeps the
      // precision of log_sum instead of losing it to lse - x[t].
      ploss[r] = tg[r] == ignore_index ? T(0) : (m - xr[tg[r]]) + log_sum;
    });
  });
  return counted;
}

void cross_entropy_backward(const View& logits, const View& targets, int64_t ignore_index,
                            const View& lse, double scale, const View& dlogits) {
  check_cross_entropy_shapes(logits, targets, {&lse});
  check_rows("cross_entropy_backward", {&logits, &dlogits});
  const int64_t rows = logits.shape[0], cols = logits.shape[1];
  const int64_t* tg = targets.ptr<int64_t>();
  dispatch_float(logits.dtype, "cross_entropy_backward", [&](auto t) {
    using T = decltype(t);
    const T *px = logits.ptr<T>(), *plse = lse.ptr<T>();
    T* pdx = dlogits.ptr<T>();
    const T s = static_cast<T>(scale);
    for_each_row(rows, cols, [&](int64_t r) {
      const T* xr = px + r * cols;
      T* dr = pdx + r * cols;
      if (tg[r] == ignore_index) {
        for (int64_t j = 0; j < cols; ++j) dr[j] = T(0);
        return;
      }
      const T l = plse[r];
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) dr[j] = row_exp(xr[j] - l) * s;
      dr[tg[r]] -= s;
    });
  });
}

void causal_softmax_forward(const View& x, double scale, const View& y) {
  check_rows("causal_softmax", {&x, &y});
  check_causal("causal_softmax", x, scale);
  const int64_t cols = last_dim(x), rows = rows_of(x);
  dispatch_float(x.dtype, "causal_softmax", [&](auto t) {
    using T = decltype(t);
    const T* px = x.ptr<T>();
    T* py = y.ptr<T>();
    // Half the elements are masked, so the useful work is about rows * cols / 2.
    for_each_row(rows, cols / 2, [&](int64_t r) {
      const int64_t o = r * cols;
      softmax_row(px + o, static_cast<T>(scale), py + o, r % cols + 1, cols);
    });
  });
}

void causal_softmax_backward(const View& y, const View& dy, double scale, const View& dx) {
  check_rows("causal_softmax_backward", {&y, &dy, &dx});
  check_causal("causal_softmax_backward", y, scale);
  const int64_t cols = last_dim(y), rows = rows_of(y);
  dispatch_float(y.dtype, "causal_softmax_backward", [&](auto t) {
    using T = decltype(t);
    const T *py = y.ptr<T>(), *pdy = dy.ptr<T>();
    T* pdx = dx.ptr<T>();
    for_each_row(rows, cols / 2, [&](int64_t r) {
      const int64_t o = r * cols;
      softmax_backward_row(py + o, pdy + o, static_cast<T>(scale), pdx + o, r % cols + 1, cols);
    });
  });
}

}  // namespace octet::cpu
