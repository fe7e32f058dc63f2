#include "ops/cuda/check.h"
#include "ops/cuda/index_check.cuh"
#include "ops/cuda/launch_checks.h"
#include "ops/cuda/row_reduce.cuh"
#include "ops/cuda/softmax.h"
#include "ops/row_checks.h"

namespace octet::cuda {
namespace {

// The first `n` columns of a softmax row of `scale * x` (n = cols, or i + 1 for row i of a causal
// block), zeros above: the CPU's softmax_row.
template <typename T>
__global__ void softmax_kernel(const T* x, T* y, int64_t rows, int64_t cols, T scale, bool causal) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    const int64_t n = causal ? r % cols + 1 : cols;
    T m = -T(INFINITY);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) m = max_of(m, xr[j]);
    m = block_max(m);
    T s = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      const T e = row_exp(scale * (xr[j] - m));
      yr[j] = e;
      s += e;
    }
    const T inv = T(1) / block_sum(s);
    // Each thread rescales the entries it wrote itself: no barrier needed.
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) yr[j] *= inv;
    for (int64_t j = n + threadIdx.x; j < cols; j += blockDim.x) yr[j] = T(0);
  }
}

// dx = scale * y * (dy - <dy, y>) on the first n columns, zeros above.
template <typename T>
__global__ void softmax_backward_kernel(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols,
                                        T scale, bool causal) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t o = r * cols;
    const int64_t n = causal ? r % cols + 1 : cols;
    T d = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) d += dy[o + j] * y[o + j];
    d = block_sum(d);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
      dx[o + j] = scale * y[o + j] * (dy[o + j] - d);
    for (int64_t j = n + threadIdx.x; j < cols; j += blockDim.x) dx[o + j] = T(0);
  }
}

// (x - m) - log(sum e^(x - m)), the CPU's order (exact near the max).
template <typename T>
__global__ void log_softmax_kernel(const T* x, T* y, int64_t rows, int64_t cols) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    T m = -T(INFINITY);
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) m = max_of(m, xr[j]);
    m = block_max(m);
    T s = 0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += row_exp(xr[j] - m);
    const T log_sum = row_log(block_sum(s));
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = (xr[j] - m) - log_sum;
  }
}

// dx = dy - exp(y) * sum(dy).
template <typename T>
__global__ void log_softmax_backward_kernel(const T* y, const T* dy, T* dx, int64_t rows,
                                            int64_t cols) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t o = r * cols;
    T g = 0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) g += dy[o + j];
    g = block_sum(g);
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
      dx[o + j] = dy[o + j] - row_exp(y[o + j]) * g;
  }
}

// lse = m + log_sum; loss = (m - x[t]) + log_sum, 0 for ignored rows. Targets were validated, but
// a bad one still never reads outside the row (its loss becomes NaN).
template <typename T>
__global__ void cross_entropy_kernel(const T* x, const int64_t* tg, int64_t ignore_index, T* loss,
                                     T* lse, int64_t rows, int64_t cols) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * cols;
    T m = -T(INFINITY);
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) m = max_of(m, xr[j]);
    m = block_max(m);
    T s = 0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += row_exp(xr[j] - m);
    const T log_sum = row_log(block_sum(s));
    if (threadIdx.x == 0) {
      const int64_t t = tg[r];
      lse[r] = m + log_sum;
      if (t == ignore_index) {
        loss[r] = T(0);
      } else {
        loss[r] = t >= 0 && t < cols ? (m - xr[t]) + log_sum : T(NAN);
      }
    }
  }
}

// dlogits = e^(x - lse) * scale, minus scale at the target; zeros for ignored rows.
template <typename T>
__global__ void cross_entropy_backward_kernel(const T* x, const int64_t* tg, int64_t ignore_index,
                                              const T* lse, T s, T* dx, int64_t rows,
                                              int64_t cols) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * cols;
    T* dr = dx + r * cols;
    const int64_t t = tg[r];
    if (t == ignore_index) {
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) dr[j] = T(0);
      continue;
    }
    const T l = lse[r];
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      T v = row_exp(xr[j] - l) * s;
      if (j == t) v -= s;
      dr[j] = v;
    }
  }
}

// The shared row rule (ops/row_checks.h), plus one CUDA device for all; returns that device.
int check_device_rows(const char* op, std::initializer_list<const View*> views) {
  check_rows(op, views);
  return device_of(op, views);
}

void check_causal(const char* op, const View& v, double scale) {
  OCTET_CHECK(v.dim() >= 2 && v.shape[v.dim() - 1] == v.shape[v.dim() - 2], op,
              "needs square [..., T, T] scores, got ", shape_str(v.shape));
  OCTET_CHECK(scale > 0, op, "scale must be > 0, got ", scale);
}

void softmax_launch(const char* op, const View& x, const View& y, double scale, bool causal,
                    int device) {
  const int64_t cols = last_dim(x), rows = rows_of(x);
  if (rows == 0 || cols == 0) return;
  cudaStream_t s = stream_on(device);
  dispatch_float(x.dtype, op, [&](auto t) {
    using T = decltype(t);
    softmax_kernel<T><<<row_blocks(rows), row_threads(cols), 0, s>>>(
        x.ptr<const T>(), y.ptr<T>(), rows, cols, static_cast<T>(scale), causal);
  });
  OCTET_CUDA_CHECK_LAUNCH();
}

void softmax_backward_launch(const char* op, const View& y, const View& dy, const View& dx,
                             double scale, bool causal, int device) {
  const int64_t cols = last_dim(y), rows = rows_of(y);
  if (rows == 0 || cols == 0) return;
  cudaStream_t s = stream_on(device);
  dispatch_float(y.dtype, op, [&](auto t) {
    using T = decltype(t);
    softmax_backward_kernel<T><<<row_blocks(rows), row_threads(cols), 0, s>>>(
        y.ptr<const T>(), dy.ptr<const T>(), dx.ptr<T>(), rows, cols, static_cast<T>(scale),
        causal);
  });
  OCTET_CUDA_CHECK_LAUNCH();
}

// The shape rules every device shares, plus one device for all.
int check_cross_entropy(const View& logits, const View& targets,
                        std::initializer_list<const View*> per_row) {
  check_cross_entropy_shapes(logits, targets, per_row);
  for (const View* v : per_row) device_of("cross_entropy", {&logits, v});
  return device_of("cross_entropy", {&logits, &targets});
}

}  // namespace

void softmax_forward(const View& x, const View& y) {
  const int device = check_device_rows("softmax", {&x, &y});
  softmax_launch("softmax", x, y, 1.0, false, device);
}

void softmax_backward(const View& y, const View& dy, const View& dx) {
  const int device = check_device_rows("softmax_backward", {&y, &dy, &dx});
  softmax_backward_launch("softmax_backward", y, dy, dx, 1.0, false, device);
}

void log_softmax_forward(const View& x, const View& y) {
  const int device = check_device_rows("log_softmax", {&x, &y});
  const int64_t cols = last_dim(x), rows = rows_of(x);
  if (rows == 0 || cols == 0) return;
  cudaStream_t s = stream_on(device);
  dispatch_float(x.dtype, "log_softmax", [&](auto t) {
    using T = decltype(t);
    log_softmax_kernel<T>
        <<<row_blocks(rows), row_threads(cols), 0, s>>>(x.ptr<const T>(), y.ptr<T>(), rows, cols);
  });
  OCTET_CUDA_CHECK_LAUNCH();
}

void log_softmax_backward(const View& y, const View& dy, const View& dx) {
  const int device = check_device_rows("log_softmax_backward", {&y, &dy, &dx});
  const int64_t cols = last_dim(y), rows = rows_of(y);
  if (rows == 0 || cols == 0) return;
  cudaStream_t s = stream_on(device);
  dispatch_float(y.dtype, "log_softmax_backward", [&](auto t) {
    using T = decltype(t);
    log_softmax_backward_kernel<T><<<row_blocks(rows), row_threads(cols), 0, s>>>(
        y.ptr<const T>(), dy.ptr<const T>(), dx.ptr<T>(), rows, cols);
  });
  OCTET_CUDA_CHECK_LAUNCH();
}

int64_t cross_entropy_forward(const View& logits, const View& targets, int64_t ignore_index,
                              const View& loss, const View& lse) {
  const int device = check_cross_entropy(logits, targets, {&loss, &lse});
  const int64_t rows = logits.shape[0], cols = logits.shape[1];
  const int64_t* tg = targets.ptr<const int64_t>();
  // Validated and counted up front, as on the CPU; the read-back waits for the stream.
  IndexReport report(device);
  scan_indices(tg, rows, cols, true, ignore_index, report, device);
  const IndexReport::Result scanned = report.read();
  if (scanned.first_bad >= 0) {
    const int64_t bad = read_index(tg + scanned.first_bad, device);
    OCTET_CHECK(false, "cross_entropy", "target ", bad, " of row ", scanned.first_bad,
                " is outside [0, ", cols, ") and is not ignore_index (", ignore_index, ")");
  }
  if (rows == 0) return 0;
  cudaStream_t s = stream_on(device);
  dispatch_float(logits.dtype, "cross_entropy", [&](auto t) {
    using T = decltype(t);
    cross_entropy_kernel<T><<<row_blocks(rows), row_threads(cols), 0, s>>>(
        logits.ptr<const T>(), tg, ignore_index, loss.ptr<T>(), lse.ptr<T>(), rows, cols);
  });
  OCTET_CUDA_CHECK_LAUNCH();
  return scanned.count;
}

void cross_entropy_backward(const View& logits, const View& targets, int64_t ignore_index,
                            const View& lse, double scale, const View& dlogits) {
  const int device = check_cross_entropy(logits, targets, {&lse});
  check_device_rows("cross_entropy_backward", {&logits, &dlogits});
  const int64_t rows = logits.shape[0], cols = logits.shape[1];
  if (rows == 0 || cols == 0) return;
  cudaStream_t s = stream_on(device);
  dispatch_float(logits.dtype, "cross_entropy_backward", [&](auto t) {
    using T = decltype(t);
    cross_entropy_backward_kernel<T><<<row_blocks(rows), row_threads(cols), 0, s>>>(
        logits.ptr<const T>(), targets.ptr<const int64_t>(), ignore_index, lse.ptr<const T>(),
        static_cast<T>(scale), dlogits.ptr<T>(), rows, cols);
  });
  OCTET_CUDA_CHECK_LAUNCH();
}

void causal_softmax_forward(const View& x, double scale, const View& y) {
  const int device = check_device_rows("causal_softmax", {&x, &y});
  check_causal("causal_softmax", x, scale);
  softmax_launch("causal_softmax", x, y, scale, true, device);
}

void causal_softmax_backward(const View& y, const View& dy, double scale, const View& dx) {
  const int device = check_device_rows("causal_softmax_backward", {&y, &dy, &dx});
  check_causal("causal_softmax_backward", y, scale);
  softmax_backward_launch("causal_softmax_backward", y, dy, dx, scale, true, device);
}

}  // namespace octet::cuda
