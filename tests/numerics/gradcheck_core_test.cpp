// Finite-difference checks (f64, central differences, error <= 1e-6) of the elementwise, reduction,
// shape and matmul ops, on random shapes with broadcasting and non-contiguous views.
#include "framework/functional/arithmetic.h"
#include "framework/functional/linear.h"
#include "framework/functional/shape.h"
#include "tests/support/gradcheck_util.h"

namespace octet {
namespace {

using testing::expect_gradcheck;
using testing::leaf;
using testing::strided_leaf;
using Inputs = std::vector<Tensor>;

class GradcheckCore : public ::testing::Test {
 protected:
  Generator gen{42};
};

TEST_F(GradcheckCore, BinaryWithBroadcasting) {
  Tensor a = leaf({3, 1, 5}, gen), b = leaf({4, 5}, gen);
  expect_gradcheck([](const Inputs& x) { return add(x[0], x[1]); }, {a, b});
  expect_gradcheck([](const Inputs& x) { return sub(x[0], x[1]); }, {a, b});
  expect_gradcheck([](const Inputs& x) { return mul(x[0], x[1]); }, {a, b});
  Tensor d = (Tensor::rand({4, 5}, gen, DType::f64, 0.5, 2.0)).set_requires_grad();
  expect_gradcheck([](const Inputs& x) { return div(x[0], x[1]); }, {a, d});
}

TEST_F(GradcheckCore, BinaryOnNonContiguousViews) {
  Tensor a = strided_leaf({4, 6}, gen), b = strided_leaf({4, 6}, gen);
  ASSERT_FALSE(a.is_contiguous());
  expect_gradcheck([](const Inputs& x) { return mul(add(x[0], x[1]), x[0]); }, {a, b});
}

TEST_F(GradcheckCore, ScalarOps) {
  Tensor a = Tensor::rand({2, 3}, gen, DType::f64, 0.5, 2.0).set_requires_grad();
  expect_gradcheck([](const Inputs& x) { return 3.0 - x[0] * 2.0 + 1.5; }, {a});
  expect_gradcheck([](const Inputs& x) { return 2.0 / x[0]; }, {a});
  expect_gradcheck([](const Inputs& x) { return pow(x[0], 2.5); }, {a});
}

TEST_F(GradcheckCore, Activations) {
  Tensor x = leaf({3, 7}, gen);
  Tensor pos = Tensor::rand({3, 7}, gen, DType::f64, 0.2, 3.0).set_requires_grad();
  for (auto fn : {&exp, &tanh, &gelu, &silu, &sigmoid, &square, &neg})
    expect_gradcheck([fn](const Inputs& in) { return fn(in[0]); }, {x});
  for (auto fn : {&log, &sqrt, &abs})
    expect_gradcheck([fn](const Inputs& in) { return fn(in[0]); }, {pos});
  // relu has a kink at 0: keep inputs away from it.
  Tensor away = add(mul(Tensor::rand({3, 7}, gen, DType::f64, 0.1, 1.0),
                        Tensor::from_vector<double>(
                            {1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1,
                             1},
                            {3, 7})),
                    0.0)
                    .detach()
                    .set_requires_grad();
  expect_gradcheck([](const Inputs& in) { return relu(in[0]); }, {away});
}

TEST_F(GradcheckCore, Reductions) {
  Tensor x = leaf({2, 3, 4}, gen);
  expect_gradcheck([](const Inputs& in) { return sum(in[0]); }, {x});
  expect_gradcheck([](const Inputs& in) { return sum(in[0], {1}); }, {x});
  expect_gradcheck([](const Inputs& in) { return sum(in[0], {0, 2}, true); }, {x});
  expect_gradcheck([](const Inputs& in) { return mean(in[0], {-1}); }, {x});
  Tensor s = strided_leaf({5, 3}, gen);
  expect_gradcheck([](const Inputs& in) { return sum(in[0], {0}); }, {s});
}

TEST_F(GradcheckCore, ShapeOps) {
  Tensor x = leaf({2, 3, 4}, gen);
  expect_gradcheck([](const Inputs& in) { return mul(in[0].reshape({4, -1}), 2.0); }, {x});
  expect_gradcheck([](const Inputs& in) { return in[0].permute({2, 0, 1}).contiguous(); }, {x});
  expect_gradcheck([](const Inputs& in) { return in[0].transpose(0, 2).reshape({-1}); }, {x});
  expect_gradcheck([](const Inputs& in) { return in[0].slice(2, 1, 3); }, {x});
  Tensor y = leaf({2, 2, 4}, gen);
  expect_gradcheck([](const Inputs& in) { return concat({in[0], in[1]}, 1); }, {x, y});
  expect_gradcheck(
      [](const Inputs& in) {
        auto parts = split(in[0], {1, 2}, 1);
        return add(mul(parts[0], 3.0), sum(parts[1], {1}, true));
      },
      {x});
  Tensor idx = Tensor::from_vector<int64_t>({2, 0, 1, 1, 3, 0}, {2, 3});
  Tensor m = leaf({2, 4}, gen);
  expect_gradcheck([idx](const Inputs& in) { return gather(in[0], 1, idx); }, {m});
}

TEST_F(GradcheckCore, Matmul) {
  Tensor a = leaf({3, 4}, gen), b = leaf({4, 5}, gen);
  expect_gradcheck([](const Inputs& in) { return matmul(in[0], in[1]); }, {a, b});
  Tensor ba = leaf({2, 3, 3, 4}, gen), bb = leaf({2, 3, 4, 2}, gen);
  expect_gradcheck([](const Inputs& in) { return matmul(in[0], in[1]); }, {ba, bb});
  // Transposed operands, as in q @ k^T.
  Tensor q = leaf({2, 5, 3}, gen), k = leaf({2, 5, 3}, gen);
  expect_gradcheck([](const Inputs& in) { return matmul(in[0], in[1].transpose(1, 2)); }, {q, k});
  // Rows against one matrix.
  Tensor rows = leaf({2, 3, 4}, gen);
  expect_gradcheck([](const Inputs& in) { return matmul(in[0], in[1]); }, {rows, b});
}

TEST_F(GradcheckCore, Linear) {
  Tensor x = leaf({2, 3, 4}, gen), w = leaf({5, 4}, gen), bias = leaf({5}, gen);
  expect_gradcheck([](const Inputs& in) { return linear(in[0], in[1], in[2]); }, {x, w, bias});
  expect_gradcheck([](const Inputs& in) { return linear(in[0], in[1]); }, {x, w});
  Tensor xs = strided_leaf({3, 4}, gen);
  expect_gradcheck([](const Inputs& in) { return linear(in[0], in[1], in[2]); }, {xs, w, bias});
}

}  // namespace
}  // namespace octet
