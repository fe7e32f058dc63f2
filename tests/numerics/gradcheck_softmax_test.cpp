// Finite-difference checks (f64, central differences, error <= 1e-6) of softmax, log_softmax,
// cross_entropy (with ignored rows), causal_softmax and causal_attention, including
// non-contiguous inputs.
#include "framework/functional/arithmetic.h"
#include "framework/functional/softmax.h"
#include "tests/support/gradcheck_util.h"

namespace octet {
namespace {

using testing::expect_gradcheck;
using testing::leaf;
using testing::strided_leaf;
using Inputs = std::vector<Tensor>;

class GradcheckSoftmax : public ::testing::Test {
 protected:
  Generator gen{7};
};

TEST_F(GradcheckSoftmax, Softmax) {
  expect_gradcheck([](const Inputs& x) { return softmax(x[0]); }, {leaf({3, 7}, gen)});
  expect_gradcheck([](const Inputs& x) { return softmax(x[0]); }, {leaf({2, 3, 5}, gen, 2.0)});
  expect_gradcheck([](const Inputs& x) { return softmax(x[0]); }, {leaf({4, 1}, gen)});
  Tensor s = strided_leaf({4, 6}, gen);
  ASSERT_FALSE(s.is_contiguous());
  expect_gradcheck([](const Inputs& x) { return softmax(x[0]); }, {s});
  // A non-contiguous upstream gradient too: the softmax output goes through a transpose.
  expect_gradcheck([](const Inputs& x) { return mul(softmax(x[0]).transpose(0, 1), 3.0); }, {s});
}

TEST_F(GradcheckSoftmax, LogSoftmax) {
  expect_gradcheck([](const Inputs& x) { return log_softmax(x[0]); }, {leaf({3, 7}, gen)});
  expect_gradcheck([](const Inputs& x) { return log_softmax(x[0]); }, {leaf({2, 3, 5}, gen, 2.0)});
  Tensor s = strided_leaf({5, 4}, gen);
  ASSERT_FALSE(s.is_contiguous());
  expect_gradcheck([](const Inputs& x) { return log_softmax(x[0]); }, {s});
}

TEST_F(GradcheckSoftmax, CrossEntropy) {
  Tensor logits = leaf({6, 5}, gen, 2.0);
  Tensor targets = Tensor::from_vector<int64_t>({0, 4, 2, 2, 1, 3}, {6});
  expect_gradcheck([targets](const Inputs& x) { return cross_entropy(x[0], targets); }, {logits});
  // Non-contiguous logits.
  Tensor s = strided_leaf({6, 5}, gen);
  expect_gradcheck([targets](const Inputs& x) { return cross_entropy(x[0], targets); }, {s});
}

TEST_F(GradcheckSoftmax, CrossEntropyIgnoresRows) {
  Tensor logits = leaf({6, 5}, gen, 2.0);
  Tensor with_default = Tensor::from_vector<int64_t>({0, -100, 2, -100, 1, 3}, {6});
  expect_gradcheck([with_default](const Inputs& x) { return cross_entropy(x[0], with_default); },
                   {logits});
  // An ignore_index that is also a valid class.
  Tensor with_class = Tensor::from_vector<int64_t>({0, 4, 2, 2, 1, 3}, {6});
  expect_gradcheck([with_class](const Inputs& x) { return cross_entropy(x[0], with_class, 2); },
                   {logits});
}

TEST_F(GradcheckSoftmax, CausalSoftmax) {
  expect_gradcheck([](const Inputs& x) { return causal_softmax(x[0]); }, {leaf({2, 3, 5, 5}, gen)});
  expect_gradcheck([](const Inputs& x) { return causal_softmax(x[0]); }, {leaf({1, 1}, gen)});
  Tensor s = strided_leaf({3, 4, 4}, gen);
  ASSERT_FALSE(s.is_contiguous());
  expect_gradcheck([](const Inputs& x) { return causal_softmax(x[0]); }, {s});
}

TEST_F(GradcheckSoftmax, CausalAttention) {
  Tensor q = leaf({2, 2, 5, 3}, gen), k = leaf({2, 2, 5, 3}, gen), v = leaf({2, 2, 5, 3}, gen);
  expect_gradcheck([](const Inputs& x) { return causal_attention(x[0], x[1], x[2]); }, {q, k, v});
  // Heads split out of a [B, T, H, D] projection: permuted, non-contiguous q, k, v.
  Tensor qt = leaf({2, 5, 2, 3}, gen), kt = leaf({2, 5, 2, 3}, gen), vt = leaf({2, 5, 2, 3}, gen);
  expect_gradcheck(
      [](const Inputs& x) {
        const std::vector<int64_t> heads_first{0, 2, 1, 3};
        return causal_attention(x[0].permute(heads_first), x[1].permute(heads_first),
                                x[2].permute(heads_first));
      },
      {qt, kt, vt});
}

}  // namespace
}  // namespace octet
