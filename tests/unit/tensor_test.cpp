// Tensor views, dtypes, errors and the autograd engine's bookkeeping.
#include <gtest/gtest.h>

#include "framework/functional/arithmetic.h"
#include "framework/functional/linear.h"
#include "framework/tensor/autograd.h"

namespace octet {
namespace {

TEST(Tensor, ViewsShareStorageWithoutCopies) {
  Tensor t = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor tt = t.transpose(0, 1);
  EXPECT_TRUE(tt.shares_storage(t));
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.shape(), (Shape{3, 2}));
  EXPECT_EQ(tt.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor r = t.reshape({3, 2});
  EXPECT_TRUE(r.shares_storage(t));
  Tensor s = t.slice(1, 1, 3);
  EXPECT_TRUE(s.shares_storage(t));
  EXPECT_EQ(s.to_vector<float>(), (std::vector<float>{1, 2, 4, 5}));
  Tensor p = Tensor::zeros({2, 3, 4}).permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  // Reshaping a non-contiguous view must copy, and still give row-major order.
  EXPECT_EQ(tt.reshape({6}).to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(Tensor, DtypeConversions) {
  Tensor t = Tensor::from_vector<float>({1.5f, -2.25f, 3.0f}, {3});
  EXPECT_EQ(t.to(DType::bf16).to(DType::f32).to_vector<float>(), t.to_vector<float>());
  EXPECT_EQ(t.to(DType::f16).to(DType::f64).to_vector<double>(),
            (std::vector<double>{1.5, -2.25, 3.0}));
  EXPECT_EQ(t.to(DType::i64).to_vector<int64_t>(), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(dtype_size(DType::f8e4m3), 1u);
  EXPECT_EQ(dtype_from_name("bf16"), DType::bf16);
}

TEST(Tensor, ShapeErrorsNameTheOpAndBothShapes) {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4, 5});
  try {
    add(a, b);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[add]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[4, 5]"), std::string::npos) << e.what();
  }
  try {
    matmul(a, b);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[matmul]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("f32[4, 5]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(add(a, Tensor::zeros({2, 3}, DType::f64)), Error);
  EXPECT_THROW(a.reshape({4, 2}), Error);
}

TEST(Autograd, AccumulatesAcrossBackwardCallsAndFreesTheGraph) {
  Tensor x = Tensor::from_vector<double>({1, 2, 3}, {3}).set_requires_grad();
  Tensor y = sum(mul(x, x));
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 4, 6}));
  EXPECT_TRUE(y.grad_fn()->edges.empty()) << "graph must be freed after backward";
  sum(mul(x, 3.0)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5, 7, 9}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, SharedGradientsAreNotAliasedBetweenLeaves) {
  Tensor a = Tensor::ones({2}, DType::f64).set_requires_grad();
  Tensor b = Tensor::ones({2}, DType::f64).set_requires_grad();
  sum(add(a, b)).backward();
  sum(mul(a, 5.0)).backward();
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{6, 6}));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{1, 1}));
}

TEST(Autograd, NoGradAndDetach) {
  Tensor x = Tensor::ones({2}).set_requires_grad();
  {
    NoGradGuard guard;
    Tensor y = mul(x, 2.0);
    EXPECT_FALSE(y.requires_grad());
  }
  Tensor d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.shares_storage(x));
  EXPECT_THROW(mul(d, 2.0).backward(), Error);
}

TEST(Autograd, DiamondGraphSumsBothPaths) {
  Tensor x = Tensor::from_vector<double>({3}, {1}).set_requires_grad();
  Tensor h = mul(x, 2.0);
  Tensor y = add(mul(h, h), h);  // 4x^2 + 2x -> 8x + 2
  sum(y).backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 26.0);
}

}  // namespace
}  // namespace octet
