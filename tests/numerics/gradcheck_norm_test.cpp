// Finite-difference checks (f64, central differences, error <= 1e-6) of layer norm, RMS norm,
// embedding, rotary embedding and dropout, including non-contiguous inputs.
#include "framework/functional/arithmetic.h"
#include "framework/functional/norm.h"
#include "tests/support/gradcheck_util.h"

namespace octet {
namespace {

using testing::expect_gradcheck;
using testing::leaf;
using testing::strided_leaf;
using Inputs = std::vector<Tensor>;

class GradcheckNorm : public ::testing::Test {
 protected:
  Generator gen{7};
};

TEST_F(GradcheckNorm, LayerNormWithBias) {
  Tensor x = leaf({3, 4, 7}, gen), w = leaf({7}, gen), b = leaf({7}, gen);
  expect_gradcheck([](const Inputs& in) { return layer_norm(in[0], in[1], in[2]); }, {x, w, b});
}

TEST_F(GradcheckNorm, LayerNormWithoutBias) {
  Tensor x = leaf({5, 6}, gen), w = leaf({6}, gen);
  expect_gradcheck([](const Inputs& in) { return layer_norm(in[0], in[1], Tensor(), 1e-3); },
                   {x, w});
}

TEST_F(GradcheckNorm, LayerNormNonContiguousAndManyRowBlocks) {
  // 70 rows span three blocks of the per-block dweight/dbias partial sums.
  Tensor x = strided_leaf({70, 5}, gen), w = leaf({5}, gen), b = leaf({5}, gen);
  ASSERT_FALSE(x.is_contiguous());
  expect_gradcheck([](const Inputs& in) { return layer_norm(in[0], in[1], in[2]); }, {x, w, b});
}

TEST_F(GradcheckNorm, LayerNormInputOnlyAndWeightOnly) {
  Tensor x = leaf({4, 9}, gen), w = leaf({9}, gen), b = leaf({9}, gen);
  Tensor frozen_w = w.detach(), frozen_b = b.detach();
  expect_gradcheck([&](const Inputs& in) { return layer_norm(in[0], frozen_w, frozen_b); }, {x});
  Tensor frozen_x = x.detach();
  expect_gradcheck([&](const Inputs& in) { return layer_norm(frozen_x, in[0], Tensor()); }, {w});
}

TEST_F(GradcheckNorm, RmsNorm) {
  Tensor x = leaf({2, 3, 8}, gen), w = leaf({8}, gen);
  expect_gradcheck([](const Inputs& in) { return rms_norm(in[0], in[1]); }, {x, w});
  Tensor xs = strided_leaf({40, 6}, gen), ws = leaf({6}, gen);
  expect_gradcheck([](const Inputs& in) { return rms_norm(in[0], in[1], 1e-2); }, {xs, ws});
}

TEST_F(GradcheckNorm, EmbeddingWithRepeatedIndices) {
  Tensor w = leaf({6, 4}, gen);
  Tensor idx = Tensor::from_vector<int64_t>({1, 3, 1, 0, 3, 3, 5, 1}, {2, 4});
  expect_gradcheck([idx](const Inputs& in) { return embedding(idx, in[0]); }, {w});
  // Through a non-contiguous index view, and the table used twice in one graph.
  Tensor idx_t = idx.transpose(0, 1);
  expect_gradcheck(
      [idx_t](const Inputs& in) { return mul(embedding(idx_t, in[0]), embedding(idx_t, in[0])); },
      {w});
}

TEST_F(GradcheckNorm, Rope) {
  Tensor x = leaf({2, 3, 5, 8}, gen);
  expect_gradcheck([](const Inputs& in) { return rope(in[0]); }, {x});
  expect_gradcheck([](const Inputs& in) { return rope(in[0], 100.0, 11); }, {x});
}

TEST_F(GradcheckNorm, RopeOnNonContiguousInputs) {
  // [B, T, H, D] viewed as [B, H, T, D], as q and k come out of the projection.
  Tensor x = leaf({2, 5, 3, 6}, gen);
  expect_gradcheck([](const Inputs& in) { return rope(in[0].transpose(1, 2), 500.0, 4); }, {x});
  // A last dimension without unit stride falls back to a copy.
  Tensor s = strided_leaf({1, 2, 6, 4}, gen);
  ASSERT_NE(s.strides()[3], 1);
  expect_gradcheck([](const Inputs& in) { return rope(in[0], 10000.0, 2); }, {s});
}

TEST_F(GradcheckNorm, DropoutWithFixedGenerator) {
  Tensor x = leaf({6, 7}, gen);
  // The function reseeds its own generator, so every finite-difference evaluation sees the
  // same mask as the analytic pass.
  auto f = [](const Inputs& in) {
    Generator g(123);
    return dropout(in[0], 0.4, true, g);
  };
  Tensor y = f({x.detach()});
  int zeros = 0;
  for (double v : y.to_vector<double>()) zeros += v == 0.0;
  ASSERT_GT(zeros, 0);
  ASSERT_LT(zeros, 42);
  expect_gradcheck(f, {x});
  Tensor s = strided_leaf({5, 4}, gen);
  expect_gradcheck(f, {s});
}

TEST_F(GradcheckNorm, ComposedPreNormBlock) {
  // x -> rms_norm -> rope -> layer_norm: gradients flow through every rule in sequence.
  Tensor x = leaf({1, 2, 3, 6}, gen), w1 = leaf({6}, gen), w2 = leaf({6}, gen);
  expect_gradcheck(
      [](const Inputs& in) {
        return layer_norm(rope(rms_norm(in[0], in[1]), 10000.0, 1), in[2], Tensor());
      },
      {x, w1, w2});
}

}  // namespace
}  // namespace octet
