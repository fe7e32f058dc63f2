// The CUDA kernels of the core's neural-network ops against their CPU twins, through the
// differentiable ops of framework/functional (so the device wiring is tested too): forward values
// and every input gradient on fresh random inputs, f32 and f64. Softmax, log-softmax, causal
// softmax at several sequence lengths and scales, cross-entropy with ignore_index, layer norm with
// and without bias, RMS norm, embedding, rope (strided input, offset, in place), dropout (same
// mask for the same seed) and gather / scatter_add; and the errors that name a bad index.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "framework/functional/arithmetic.h"
#include "framework/functional/norm.h"
#include "framework/functional/shape.h"
#include "framework/functional/softmax.h"
#include "ops/cpu/rope.h"
#include "ops/cpu/softmax.h"
#include "ops/cuda/rope.h"
#include "ops/cuda/softmax.h"
#include "tests/gpu/cuda_nn_compare.h"

namespace octet {
namespace {

using testing::Both;
using testing::constants;
using testing::expect_close;
using testing::expect_equal;
using testing::expect_error;
using testing::gpu0;
using testing::leaves;
using testing::random;
using testing::random_indices;
using testing::tol;

const DType kFloats[] = {DType::f32, DType::f64};

std::string name(const char* op, DType t, const Shape& s) {
  return std::string(op) + " " + dtype_name(t) + shape_str(s);
}

// Runs `op` on both devices, backpropagates the same random upstream gradient, and compares the
// outputs and the gradients of every leaf.
template <typename Op>
void compare_unary(const char* op_name, const Tensor& host_x, Op&& op, uint64_t seed) {
  const DType t = host_x.dtype();
  Both x = leaves(host_x);
  Tensor yh = op(x.h), yd = op(x.d);
  const std::string what = name(op_name, t, host_x.shape());
  expect_close(yd, yh, tol(t), what + " forward");
  Both up = constants(random(yh.shape(), seed, t));
  yh.backward(up.h);
  yd.backward(up.d);
  expect_close(x.d.grad(), x.h.grad(), tol(t), what + " backward");
}

TEST(CudaNn, SoftmaxAndLogSoftmaxMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  for (DType t : kFloats) {
    for (const Shape& s : {Shape{3, 7}, Shape{4, 5, 33}, Shape{6, 1000}, Shape{2, 5000}}) {
      // Large logits check the max subtraction.
      Tensor x = random(s, 11, t, 30.0);
      compare_unary(
          "softmax", x, [](const Tensor& v) { return softmax(v); }, 12);
      compare_unary(
          "log_softmax", x, [](const Tensor& v) { return log_softmax(v); }, 13);
    }
  }
}

TEST(CudaNn, CausalSoftmaxMatchesTheCpuAtSeveralLengths) {
  OCTET_REQUIRE_GPU();
  for (DType t : kFloats) {
    for (int64_t T : {1, 2, 7, 32, 100, 257}) {
      Tensor x = random({2, 3, T, T}, 20 + T, t, 4.0);
      compare_unary(
          "causal_softmax", x, [](const Tensor& v) { return causal_softmax(v); }, 21);
      // Above the diagonal the GPU writes exact zeros.
      Tensor y = causal_softmax(x.to(gpu0())).cpu();
      for (int64_t i = 0; i + 1 < T; ++i)
        EXPECT_EQ(testing::max_abs(y.slice(2, i, i + 1).slice(3, i + 1, T)), 0.0) << T << " " << i;
    }
  }
}

// The scale the attention folds into the softmax, through the kernels directly.
TEST(CudaNn, ScaledCausalSoftmaxKernelsMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  for (DType t : kFloats) {
    for (int64_t T : {5, 64}) {
      for (double scale : {0.125, 1.0, 3.0}) {
        Both x = constants(random({3, T, T}, 30, t));
        Both dy = constants(random({3, T, T}, 31, t));
        Both y{Tensor::empty(x.h.shape(), t), Tensor::empty(x.h.shape(), t, gpu0())};
        Both dx{Tensor::empty(x.h.shape(), t), Tensor::empty(x.h.shape(), t, gpu0())};
        cpu::causal_softmax_forward(x.h.view(), scale, y.h.view());
        cuda::causal_softmax_forward(x.d.view(), scale, y.d.view());
        cpu::causal_softmax_backward(y.h.view(), dy.h.view(), scale, dx.h.view());
        cuda::causal_softmax_backward(y.h.to(gpu0()).view(), dy.d.view(), scale, dx.d.view());
        const std::string what =
            name("scaled causal", t, x.h.shape()) + " scale " + std::to_string(scale);
        expect_close(y.d, y.h, tol(t), what + " forward");
        expect_close(dx.d, dx.h, tol(t), what + " backward");
      }
    }
  }
}

TEST(CudaNn, CrossEntropyMatchesTheCpuWithIgnoredRows) {
  OCTET_REQUIRE_GPU();
  for (DType t : kFloats) {
    for (int64_t C : {11, 300, 4099}) {
      for (int64_t ignore : {-100, 3}) {
        // Every 4th row ignored.
        Tensor targets = random_indices({37}, 40 + C, 0, C, 4, ignore);
        Both tg = constants(targets);
        Both x = leaves(random({37, C}, 41 + C, t, 3.0));
        Tensor lh = cross_entropy(x.h, tg.h, ignore), ld = cross_entropy(x.d, tg.d, ignore);
        const std::string what =
            name("cross_entropy", t, x.h.shape()) + " ignore " + std::to_string(ignore);
        expect_close(ld, lh, tol(t), what + " loss");
        lh.backward(Tensor::full({}, 0.7, t));
        ld.backward(Tensor::full({}, 0.7, t, gpu0()));
        expect_close(x.d.grad(), x.h.grad(), tol(t), what + " gradient");
      }
    }
  }
}

TEST(CudaNn, CrossEntropyEdgeCases) {
  OCTET_REQUIRE_GPU();
  // Every row ignored: 0/0 on both devices, and a zero gradient.
  Both x = leaves(random({4, 6}, 50, DType::f32));
  Both tg = constants(Tensor::full({4}, -100, DType::i64));
  Tensor ld = cross_entropy(x.d, tg.d);
  EXPECT_TRUE(std::isnan(ld.item()));
  EXPECT_TRUE(std::isnan(cross_entropy(x.h, tg.h).item()));
  ld.backward(Tensor::full({}, 1.0, DType::f32, gpu0()));
  EXPECT_EQ(testing::max_abs(x.d.grad()), 0.0);
  // A target outside [0, C) is named with its row, as on the CPU.
  Tensor bad = Tensor::from_vector<int64_t>({1, 2, 6, 0}, {4}).to(gpu0());
  expect_error([&] { cross_entropy(x.d.detach(), bad); }, "target 6 of row 2", "bad target");
}

TEST(CudaNn, LayerNormWithAndWithoutBiasMatchesTheCpu) {
  OCTET_REQUIRE_GPU();
  for (DType t : kFloats) {
    for (const Shape& s : {Shape{3, 5}, Shape{4, 7, 33}, Shape{100, 512}, Shape{70, 1031}}) {
      const int64_t D = s.back();
      // A mean far from zero checks the shifted one-pass variance.
      Tensor host_x = random(s, 60 + D, t) + 100.0;
      for (bool with_bias : {true, false}) {
        Both x = leaves(host_x), w = leaves(random({D}, 61, t)), b = leaves(random({D}, 62, t));
        Tensor bh = with_bias ? b.h : Tensor(), bd = with_bias ? b.d : Tensor();
        Tensor yh = layer_norm(x.h, w.h, bh), yd = layer_norm(x.d, w.d, bd);
        const std::string what =
            name("layer_norm", t, s) + (with_bias ? " with bias" : " without bias");
        expect_close(yd, yh, tol(t), what + " forward");
        Both up = constants(random(s, 63, t));
        yh.backward(up.h);
        yd.backward(up.d);
        expect_close(x.d.grad(), x.h.grad(), tol(t), what + " dx");
        expect_close(w.d.grad(), w.h.grad(), tol(t), what + " dweight");
        if (with_bias) expect_close(b.d.grad(), b.h.grad(), tol(t), what + " dbias");
      }
    }
  }
}

TEST(CudaNn, RmsNormMatchesTheCpu) {
  OCTET_REQUIRE_GPU();
  for (DType t : kFloats) {
    for (const Shape& s : {Shape{3, 5}, Shape{4, 7, 33}, Shape{100, 512}}) {
      const int64_t D = s.back();
      Both x = leaves(random(s, 70 + D, t)), w = leaves(random({D}, 71, t));
      Tensor yh = rms_norm(x.h, w.h), yd = rms_norm(x.d, w.d);
      const std::string what = name("rms_norm", t, s);
      expect_close(yd, yh, tol(t), what + " forward");
      Both up = constants(random(s, 72, t));
      yh.backward(up.h);
      yd.backward(up.d);
      expect_close(x.d.grad(), x.h.grad(), tol(t), what + " dx");
      expect_close(w.d.grad(), w.h.grad(), tol(t), what + " dweight");
    }
  }
}

// dweight is summed over fixed blocks of rows in a fixed order: the same bits on every run.
TEST(CudaNn, NormParameterGradientsAreReproducible) {
  OCTET_REQUIRE_GPU();
  Tensor host_x = random({300, 256}, 80, DType::f32);
  Tensor grads[2];
  for (Tensor& g : grads) {
    Both x = leaves(host_x), w = leaves(random({256}, 81, DType::f32));
    layer_norm(x.d, w.d, Tensor()).backward(random({300, 256}, 82, DType::f32).to(gpu0()));
    g = w.d.grad();
  }
  expect_equal(grads[0], grads[1].cpu(), "layer_norm dweight twice");
}

TEST(CudaNn, EmbeddingMatchesTheCpu) {
  OCTET_REQUIRE_GPU();
  for (DType t : kFloats) {
    // 200 lookups into 50 rows: most rows picked several times.
    Both idx = constants(random_indices({8, 25}, 90, 0, 50));
    Both w = leaves(random({50, 16}, 91, t));
    Tensor yh = embedding(idx.h, w.h), yd = embedding(idx.d, w.d);
    expect_equal(yd, yh, name("embedding", t, w.h.shape()) + " forward");
    Both up = constants(random(yh.shape(), 92, t));
    yh.backward(up.h);
    yd.backward(up.d);
    expect_close(w.d.grad(), w.h.grad(), tol(t), name("embedding", t, w.h.shape()) + " backward");
  }
  // Any dtype is a plain row copy.
  Tensor table = random({10, 3}, 93, DType::f32).to(DType::bf16);
  Tensor rows = Tensor::from_vector<int64_t>({9, 0, 9}, {3});
  expect_equal(embedding(rows.to(gpu0()), table.to(gpu0())), embedding(rows, table), "bf16 rows");
  Tensor bad = Tensor::from_vector<int64_t>({1, 10, 2}, {3}).to(gpu0());
  expect_error([&] { embedding(bad, table.to(gpu0())); }, "index 10 at position 1", "bad index");
}

TEST(CudaNn, RopeMatchesTheCpuOnStridedInputs) {
  OCTET_REQUIRE_GPU();
  for (DType t : kFloats) {
    for (int64_t offset : {0, 5, 1000}) {
      // q as it leaves a [B, T, H, D] projection: a transposed view with a unit last stride.
      compare_unary(
          "rope strided", random({2, 9, 3, 8}, 100 + offset, t),
          [offset](const Tensor& v) { return rope(v.transpose(1, 2), 10000.0, offset); }, 101);
      compare_unary(
          "rope base 500", random({1, 2, 40, 64}, 102, t),
          [offset](const Tensor& v) { return rope(v, 500.0, offset); }, 103);
    }
  }
  // In place, as the runtime's KV cache calls it.
  Tensor x = random({1, 2, 6, 4}, 104, DType::f32);
  Tensor xd = x.to(gpu0());
  Tensor yh = Tensor::empty(x.shape());
  cpu::rope(x.view(), 10000.0, 3, false, yh.view());
  cuda::rope(xd.view(), 10000.0, 3, false, xd.view());
  expect_close(xd, yh, tol(DType::f32), "rope in place");
}

TEST(CudaNn, DropoutKeepsTheCpuMaskForTheSameSeed) {
  OCTET_REQUIRE_GPU();
  for (DType t : kFloats) {
    for (double p : {0.1, 0.5, 1.0}) {
      Both x = leaves(random({7, 129}, 110, t));
      Generator gh(111), gd(111);
      Tensor yh = dropout(x.h, p, true, gh), yd = dropout(x.d, p, true, gd);
      const std::string what = name("dropout", t, x.h.shape()) + " p " + std::to_string(p);
      expect_equal(yd, yh, what + " forward");
      Both up = constants(random(yh.shape(), 112, t));
      yh.backward(up.h);
      yd.backward(up.d);
      expect_equal(x.d.grad(), x.h.grad(), what + " backward");
    }
  }
}

TEST(CudaNn, GatherAndScatterAddMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  for (DType t : kFloats) {
    for (int64_t dim : {0, 1, 2}) {
      Shape index_shape{5, 4, 3};
      index_shape[dim] = 9;  // more picks than entries: repeated indices meet in scatter_add
      const Shape src_shape{6, 7, 4};
      Both idx = constants(random_indices(index_shape, 120 + dim, 0, src_shape[dim]));
      // A transposed source checks the strided walk.
      Both x = leaves(random({src_shape[1], src_shape[0], src_shape[2]}, 121, t));
      auto op = [&](const Tensor& v, const Tensor& i) { return gather(v.transpose(0, 1), dim, i); };
      Tensor yh = op(x.h, idx.h), yd = op(x.d, idx.d);
      const std::string what = name("gather", t, index_shape) + " dim " + std::to_string(dim);
      expect_equal(yd, yh, what + " forward");
      Both up = constants(random(index_shape, 122, t));
      yh.backward(up.h);
      yd.backward(up.d);
      expect_close(x.d.grad(), x.h.grad(), tol(t), what + " backward");
    }
  }
  Tensor bad = Tensor::from_vector<int64_t>({0, 3, 1}, {3}).to(gpu0());
  expect_error([&] { gather(Tensor::zeros({3}, DType::f32, gpu0()), 0, bad); },
               "index 3 out of range", "bad gather index");
}

}  // namespace
}  // namespace octet
