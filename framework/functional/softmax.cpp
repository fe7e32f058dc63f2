#include "framework/functional/softmax.h"

#include <cmath>
#include <limits>

#include "framework/functional/linear.h"
#include "framework/tensor/autograd.h"
#include "ops/cpu/dispatch.h"
#include "ops/cpu/softmax.h"
#include "ops/cuda/softmax.h"
#include "ops/on_device.h"

namespace octet {
namespace {

void check_input(const char* op, const Tensor& x) {
  OCTET_CHECK(x.dim() >= 1, op, "needs at least one dimension, got ", x.str());
  OCTET_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, op,
              "computes in f32 or f64, got ", x.str());
}

// softmax(scale * scores) under the causal mask. Internal so that causal_attention can fold its
// 1/sqrt(D) into the softmax pass instead of spending a separate pass (and a T x T buffer) on it.
Tensor scaled_causal_softmax(const Tensor& scores, double scale) {
  check_input("causal_softmax", scores);
  OCTET_CHECK(scores.dim() >= 2 && scores.size(-1) == scores.size(-2), "causal_softmax",
              "needs square [..., T, T] scores, got ", scores.str());
  Tensor xs = scores.detach().contiguous();
  const Device dev = xs.device();
  Tensor y = Tensor::empty(xs.shape(), xs.dtype(), dev);
  if (on_cuda(dev)) {
    cuda::causal_softmax_forward(xs.view(), scale, y.view());
  } else {
    cpu::causal_softmax_forward(xs.view(), scale, y.view());
  }
  Tensor ys = y.detach();
  return record(y, "causal_softmax", {scores}, [ys, scale](const Tensor& g, const NeedsGrad&) {
    Tensor gc = g.contiguous();
    const Device dev = common_device("causal_softmax_backward", {ys.device(), gc.device()});
    Tensor dx = Tensor::empty(ys.shape(), ys.dtype(), dev);
    if (on_cuda(dev)) {
      cuda::causal_softmax_backward(ys.view(), gc.view(), scale, dx.view());
    } else {
      cpu::causal_softmax_backward(ys.view(), gc.view(), scale, dx.view());
    }
    return std::vector<Tensor>{dx};
  });
}

}  // namespace

Tensor softmax(const Tensor& x) {
  check_input("softmax", x);
  Tensor xs = x.detach().contiguous();
  const Device dev = xs.device();
  Tensor y = Tensor::empty(xs.shape(), xs.dtype(), dev);
  if (on_cuda(dev)) {
    cuda::softmax_forward(xs.view(), y.view());
  } else {
    cpu::softmax_forward(xs.view(), y.view());
  }
  Tensor ys = y.detach();
  return record(y, "softmax", {x}, [ys](const Tensor& g, const NeedsGrad&) {
    Tensor gc = g.contiguous();
    const Device dev = common_device("softmax_backward", {ys.device(), gc.device()});
    Tensor dx = Tensor::empty(ys.shape(), ys.dtype(), dev);
    if (on_cuda(dev)) {
      cuda::softmax_backward(ys.view(), gc.view(), dx.view());
    } else {
      cpu::softmax_backward(ys.view(), gc.view(), dx.view());
    }
    return std::vector<Tensor>{dx};
  });
}

Tensor log_softmax(const Tensor& x) {
  check_input("log_softmax", x);
  Tensor xs = x.detach().contiguous();
  const Device dev = xs.device();
  Tensor y = Tensor::empty(xs.shape(), xs.dtype(), dev);
  if (on_cuda(dev)) {
    cuda::log_softmax_forward(xs.view(), y.view());
  } else {
    cpu::log_softmax_forward(xs.view(), y.view());
  }
  Tensor ys = y.detach();
  return record(y, "log_softmax", {x}, [ys](const Tensor& g, const NeedsGrad&) {
    Tensor gc = g.contiguous();
    const Device dev = common_device("log_softmax_backward", {ys.device(), gc.device()});
    Tensor dx = Tensor::empty(ys.shape(), ys.dtype(), dev);
    if (on_cuda(dev)) {
      cuda::log_softmax_backward(ys.view(), gc.view(), dx.view());
    } else {
      cpu::log_softmax_backward(ys.view(), gc.view(), dx.view());
    }
    return std::vector<Tensor>{dx};
  });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  check_input("cross_entropy", logits);
  OCTET_CHECK(logits.dim() == 2, "cross_entropy", "logits must be [N, C], got ", logits.str());
  OCTET_CHECK(targets.dtype() == DType::i64, "cross_entropy", "targets must be i64, got ",
              targets.str());
  OCTET_CHECK(targets.shape() == Shape{logits.size(0)}, "cross_entropy", "targets ", targets.str(),
              " do not match logits ", logits.str(), " (expects [", logits.size(0), "])");
  const Device dev = common_device("cross_entropy", {logits.device(), targets.device()});
  Tensor xs = logits.detach().contiguous();
  Tensor ts = targets.detach().contiguous();
  const int64_t n = xs.size(0);
  Tensor row_loss = Tensor::empty({n}, xs.dtype(), dev);
  Tensor lse = Tensor::empty({n}, xs.dtype(), dev);
  const int64_t counted = on_cuda(dev)
                              ? cuda::cross_entropy_forward(xs.view(), ts.view(), ignore_index,
                                                            row_loss.view(), lse.view())
                              : cpu::cross_entropy_forward(xs.view(), ts.view(), ignore_index,
                                                           row_loss.view(), lse.view());
  // The mean over no rows is 0/0, as in PyTorch. The row losses are summed on the host in row
  // order on either device: the count above already waited for the device, and N values are cheap
  // to bring back.
  const Tensor host_loss = on_cuda(dev) ? row_loss.cpu() : row_loss;
  double total = 0;
  cpu::dispatch_float(xs.dtype(), "cross_entropy", [&](auto t) {
    using T = decltype(t);
    const T* p = host_loss.data<T>();
    for (int64_t r = 0; r < n; ++r) total += p[r];
  });
  const double mean =
      counted ? total / static_cast<double>(counted) : std::numeric_limits<double>::quiet_NaN();
  Tensor out = Tensor::full({}, mean, xs.dtype(), dev);
  return record(out, "cross_entropy", {logits},
                [xs, ts, lse, ignore_index, counted](const Tensor& g, const NeedsGrad&) {
                  const Device dev = xs.device();
                  Tensor dx = Tensor::empty(xs.shape(), xs.dtype(), dev);
                  const double scale = counted ? g.item() / static_cast<double>(counted) : 0.0;
                  if (on_cuda(dev)) {
                    cuda::cross_entropy_backward(xs.view(), ts.view(), ignore_index, lse.view(),
                                                 scale, dx.view());
                  } else {
                    cpu::cross_entropy_backward(xs.view(), ts.view(), ignore_index, lse.view(),
                                                scale, dx.view());
                  }
                  return std::vector<Tensor>{dx};
                });
}

Tensor causal_softmax(const Tensor& scores) { return scaled_causal_softmax(scores, 1.0); }

Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  OCTET_CHECK(q.dim() >= 2 && q.shape() == k.shape() && q.shape() == v.shape(), "causal_attention",
              "q, k, v must share one [..., T, D] shape, got ", q.str(), ", ", k.str(), ", ",
              v.str());
  OCTET_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype(), "causal_attention",
              "dtypes differ: ", q.str(), ", ", k.str(), ", ", v.str());
  check_input("causal_attention", q);
  OCTET_CHECK(q.size(-1) > 0, "causal_attention", "head dimension D must be > 0, got ", q.str());
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  // k^T is a strided view: matmul hands it to the GEMM as a transposed operand, no copy.
  Tensor scores = matmul(q, k.transpose(-2, -1));
  return matmul(scaled_causal_softmax(scores, scale), v);
}

}  // namespace octet
