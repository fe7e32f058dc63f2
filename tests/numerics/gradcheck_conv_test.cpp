// Finite-difference checks (f64, central differences, error <= 1e-6) of conv2d with respect to
// input, weight and bias across strides, paddings, odd sizes and non-contiguous inputs, and of
// max_pool2d on inputs whose window values are far apart (no ties within eps).
#include "framework/functional/arithmetic.h"
#include "framework/functional/conv.h"
#include "tests/support/gradcheck_util.h"

namespace octet {
namespace {

using testing::expect_gradcheck;
using testing::leaf;
using testing::strided_leaf;
using Inputs = std::vector<Tensor>;

class GradcheckConv : public ::testing::Test {
 protected:
  Generator gen{1234};

  // Distinct values 0.05 apart in random order: finite differences of 1e-6 never reorder a
  // window, so max-pool is smooth at every point the check visits.
  Tensor distinct_leaf(const Shape& shape) {
    const int64_t n = numel_of(shape);
    std::vector<double> v(n);
    for (int64_t i = 0; i < n; ++i) v[i] = 0.05 * static_cast<double>(i) - 1.0;
    for (int64_t i = n - 1; i > 0; --i) std::swap(v[i], v[gen.below(i + 1)]);
    return Tensor::from_vector(v, shape).set_requires_grad();
  }
};

struct Geometry {
  Shape x, w;
  int64_t stride, padding;
};

TEST_F(GradcheckConv, Conv2dWithRespectToInputWeightAndBias) {
  const std::vector<Geometry> cases = {
      {{2, 3, 5, 5}, {4, 3, 3, 3}, 1, 0},  // valid
      {{2, 2, 5, 6}, {3, 2, 3, 3}, 1, 1},  // same padding
      {{1, 2, 7, 5}, {3, 2, 3, 2}, 2, 1},  // stride 2, odd sizes, rectangular kernel
      {{2, 3, 6, 7}, {2, 3, 3, 3}, 2, 0},  // stride 2, no padding, last column unused
      {{1, 1, 4, 4}, {2, 1, 1, 1}, 1, 0},  // 1x1 kernel
  };
  for (const Geometry& g : cases) {
    SCOPED_TRACE("x " + shape_str(g.x) + " w " + shape_str(g.w) + " stride " +
                 std::to_string(g.stride) + " padding " + std::to_string(g.padding));
    Tensor x = leaf(g.x, gen), w = leaf(g.w, gen), b = leaf({g.w[0]}, gen);
    const int64_t s = g.stride, p = g.padding;
    expect_gradcheck([s, p](const Inputs& in) { return conv2d(in[0], in[1], in[2], s, p); },
                     {x, w, b});
  }
}

TEST_F(GradcheckConv, Conv2dWithoutBias) {
  Tensor x = leaf({2, 2, 6, 5}, gen), w = leaf({3, 2, 2, 3}, gen);
  expect_gradcheck([](const Inputs& in) { return conv2d(in[0], in[1], Tensor(), 2, 1); }, {x, w});
}

TEST_F(GradcheckConv, Conv2dOnNonContiguousInputAndWeight) {
  Tensor x = strided_leaf({2, 3, 5, 6}, gen), w = strided_leaf({2, 3, 3, 2}, gen);
  ASSERT_FALSE(x.is_contiguous());
  ASSERT_FALSE(w.is_contiguous());
  Tensor b = leaf({2}, gen);
  expect_gradcheck([](const Inputs& in) { return conv2d(in[0], in[1], in[2], 1, 1); }, {x, w, b});
  expect_gradcheck([](const Inputs& in) { return conv2d(in[0], in[1], in[2], 2, 0); }, {x, w, b});
}

TEST_F(GradcheckConv, MaxPool2d) {
  Tensor even = distinct_leaf({2, 2, 4, 6});
  expect_gradcheck([](const Inputs& in) { return max_pool2d(in[0], 2); }, {even});
  // Odd sizes: the last row and column fall outside every window and get zero gradient.
  Tensor odd = distinct_leaf({1, 3, 7, 5});
  expect_gradcheck([](const Inputs& in) { return max_pool2d(in[0], 2); }, {odd});
  // Overlapping windows: an element that wins two windows collects both gradients.
  expect_gradcheck([](const Inputs& in) { return max_pool2d(in[0], 3, 2); }, {odd});
  expect_gradcheck([](const Inputs& in) { return max_pool2d(in[0], 2, 1); }, {odd});
}

TEST_F(GradcheckConv, MaxPool2dOnNonContiguousInput) {
  Tensor base = distinct_leaf({2, 2, 6, 5}).detach();
  Tensor x = base.transpose(2, 3).detach().set_requires_grad();  // [2, 2, 5, 6]
  ASSERT_FALSE(x.is_contiguous());
  expect_gradcheck([](const Inputs& in) { return max_pool2d(in[0], 2); }, {x});
}

// The CNN's block order, conv -> pool -> conv, so the gradients flow through both ops in turn.
TEST_F(GradcheckConv, ConvPoolConvChain) {
  Tensor x = distinct_leaf({2, 1, 6, 6});
  Tensor w1 = leaf({2, 1, 3, 3}, gen), b1 = leaf({2}, gen);
  Tensor w2 = leaf({3, 2, 2, 2}, gen), b2 = leaf({3}, gen);
  expect_gradcheck(
      [](const Inputs& in) {
        return conv2d(max_pool2d(conv2d(in[0], in[1], in[2], 1, 1), 2), in[3], in[4], 1, 0);
      },
      {x, w1, b1, w2, b2});
}

}  // namespace
}  // namespace octet
