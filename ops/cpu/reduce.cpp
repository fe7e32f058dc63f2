#include "ops/cpu/reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/cpu/dispatch.h"

namespace octet::cpu {
namespace {

// The op is a template argument so that each reduction's inner loop is branch-free and the
// column-wise (leading) path vectorises across columns: with a run-time switch in the loop GCC
// kept it scalar, and bias gradients, the training step's main reductions, run through it.
template <ReduceOp Op, typename Acc>
struct Reducer {
  static Acc init() {
    if constexpr (Op == ReduceOp::max) return -std::numeric_limits<Acc>::infinity();
    if constexpr (Op == ReduceOp::min) return std::numeric_limits<Acc>::infinity();
    return Acc(0);
  }
  // NaN propagates through max/min like PyTorch's.
  static Acc step(Acc acc, Acc v) {
    if constexpr (Op == ReduceOp::sum) {
      return acc + v;
    } else if constexpr (Op == ReduceOp::max) {
      return (v > acc || std::isnan(v)) ? v : acc;
    } else if constexpr (Op == ReduceOp::min) {
      return (v < acc || std::isnan(v)) ? v : acc;
    } else {
      const Acc a = std::abs(v);
      return (a > acc || std::isnan(a)) ? a : acc;
    }
  }
};

template <typename T, ReduceOp Op>
void reduce_typed(const View& in, const View& out) {
  using Acc = double;
  using red = Reducer<Op, Acc>;
  const int64_t dims = in.dim();
  std::vector<int64_t> kept, reduced;
  for (int64_t d = 0; d < dims; ++d)
    (out.shape[d] == 1 && in.shape[d] != 1 ? reduced : kept).push_back(d);
  const T* src = in.ptr<T>();
  T* dst = out.ptr<T>();
  const int64_t n_out = out.numel();
  int64_t n_red = 1;
  for (int64_t d : reduced) n_red *= in.shape[d];

  // Fast paths for contiguous input and contiguous output.
  if (in.is_contiguous() && out.is_contiguous() && !reduced.empty()) {
    const bool trailing = reduced.front() == dims - static_cast<int64_t>(reduced.size()) &&
                          reduced.back() == dims - 1;
    const bool leading =
        reduced.front() == 0 && reduced.back() == static_cast<int64_t>(reduced.size()) - 1;
    if (trailing) {
#pragma omp parallel for schedule(static) if (n_out * n_red > (1 << 15))
      for (int64_t o = 0; o < n_out; ++o) {
        const T* row = src + o * n_red;
        Acc acc = red::init();
        for (int64_t i = 0; i < n_red; ++i) acc = red::step(acc, row[i]);
        dst[o] = static_cast<T>(acc);
      }
      return;
    }
    if (leading) {
      const int64_t chunk = 256;
#pragma omp parallel for schedule(static) if (n_out * n_red > (1 << 15))
      for (int64_t c0 = 0; c0 < n_out; c0 += chunk) {
        const int64_t c1 = std::min(n_out, c0 + chunk);
        Acc acc[chunk];
        for (int64_t j = c0; j < c1; ++j) acc[j - c0] = red::init();
        for (int64_t i = 0; i < n_red; ++i) {
          const T* row = src + i * n_out;
          for (int64_t j = c0; j < c1; ++j) acc[j - c0] = red::step(acc[j - c0], row[j]);
        }
        for (int64_t j = c0; j < c1; ++j) dst[j] = static_cast<T>(acc[j - c0]);
      }
      return;
    }
  }

  // General: each output element walks its reduced sub-block.
#pragma omp parallel for schedule(static) if (n_out * n_red > (1 << 15))
  for (int64_t o = 0; o < n_out; ++o) {
    int64_t rem = o, in_base = 0, out_off = 0;
    for (auto it = kept.rbegin(); it != kept.rend(); ++it) {
      const int64_t idx = rem % in.shape[*it];
      rem /= in.shape[*it];
      in_base += idx * in.strides[*it];
      out_off += idx * out.strides[*it];
    }
    Acc acc = red::init();
    for (int64_t r = 0; r < n_red; ++r) {
      int64_t rr = r, off = in_base;
      for (auto it = reduced.rbegin(); it != reduced.rend(); ++it) {
        off += (rr % in.shape[*it]) * in.strides[*it];
        rr /= in.shape[*it];
      }
      acc = red::step(acc, src[off]);
    }
    dst[out_off] = static_cast<T>(acc);
  }
}

}  // namespace

void reduce(ReduceOp op, const View& in, const View& out) {
  check_same_dtype("reduce", in, out);
  OCTET_CHECK(in.dim() == out.dim(), "reduce", "keepdim output expected: ", shape_str(in.shape),
              " -> ", shape_str(out.shape));
  for (int64_t d = 0; d < in.dim(); ++d)
    OCTET_CHECK(out.shape[d] == in.shape[d] || out.shape[d] == 1, "reduce", "cannot reduce ",
                shape_str(in.shape), " to ", shape_str(out.shape));
  dispatch_float(in.dtype, "reduce", [&](auto t) {
    using T = decltype(t);
    switch (op) {
      case ReduceOp::sum:
        return reduce_typed<T, ReduceOp::sum>(in, out);
      case ReduceOp::max:
        return reduce_typed<T, ReduceOp::max>(in, out);
      case ReduceOp::min:
        return reduce_typed<T, ReduceOp::min>(in, out);
      case ReduceOp::amax:
        return reduce_typed<T, ReduceOp::amax>(in, out);
    }
  });
}

void argmax_last(const View& in, const View& out) {
  OCTET_CHECK(out.dtype == DType::i64 && in.is_contiguous() && out.is_contiguous(), "argmax",
              "needs contiguous input and an i64 output");
  const int64_t n = in.dim() ? in.shape.back() : 1;
  const int64_t rows = n ? in.numel() / n : 0;
  int64_t* dst = out.ptr<int64_t>();
  dispatch_float(in.dtype, "argmax", [&](auto t) {
    using T = decltype(t);
    const T* src = in.ptr<T>();
    for (int64_t r = 0; r < rows; ++r)
      dst[r] = std::max_element(src + r * n, src + (r + 1) * n) - (src + r * n);
  });
}

}  // namespace octet::cpu
