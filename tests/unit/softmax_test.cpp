// Values of the softmax family against straightforward double references (f32 and f64, serial and
// parallel sizes), numerical stability, cross-entropy and causal attention against their
// compositions, and the errors they raise.
#include "framework/functional/softmax.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "framework/functional/arithmetic.h"
#include "framework/functional/linear.h"
#include "framework/functional/shape.h"
#include "framework/tensor/autograd.h"

namespace octet {
namespace {

using Rows = std::vector<std::vector<double>>;

// The rows of x's last dimension, in double.
Rows rows_of(const Tensor& x) {
  const std::vector<double> v = x.detach().to(DType::f64).to_vector<double>();
  const int64_t n = x.size(-1);
  Rows rows;
  for (size_t i = 0; i < v.size(); i += n) rows.emplace_back(v.begin() + i, v.begin() + i + n);
  return rows;
}

std::vector<double> ref_softmax(const std::vector<double>& x) {
  double m = -std::numeric_limits<double>::infinity(), s = 0;
  for (double v : x) m = std::max(m, v);
  std::vector<double> y;
  for (double v : x) s += std::exp(v - m);
  for (double v : x) y.push_back(std::exp(v - m) / s);
  return y;
}

std::vector<double> ref_log_softmax(const std::vector<double>& x) {
  std::vector<double> y = ref_softmax(x);
  for (double& v : y) v = std::log(v);
  return y;
}

// |got - want| <= tol * max(|want|, floor) for every element.
void expect_rows_near(const Rows& got, const Rows& want, double tol, double floor = 1.0) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t r = 0; r < got.size(); ++r)
    for (size_t j = 0; j < got[r].size(); ++j)
      ASSERT_NEAR(got[r][j], want[r][j], tol * std::max(std::abs(want[r][j]), floor))
          << "row " << r << " column " << j;
}

Rows map_rows(const Rows& x, std::vector<double> (*fn)(const std::vector<double>&)) {
  Rows out;
  for (const auto& row : x) out.push_back(fn(row));
  return out;
}

class SoftmaxValues : public ::testing::TestWithParam<DType> {
 protected:
  Generator gen{3};
  double tol() const { return GetParam() == DType::f32 ? 2e-6 : 1e-13; }
};

TEST_P(SoftmaxValues, MatchDoubleReference) {
  // Small (serial) and large (parallel) problems, a single column, and a non-contiguous view.
  for (const Shape& shape : {Shape{3, 7}, Shape{2, 3, 1}, Shape{512, 256}, Shape{4, 1000}}) {
    Tensor x = Tensor::randn(shape, gen, GetParam(), 3.0);
    expect_rows_near(rows_of(softmax(x)), map_rows(rows_of(x), ref_softmax), tol(), 1e-3);
    expect_rows_near(rows_of(log_softmax(x)), map_rows(rows_of(x), ref_log_softmax), tol());
  }
  Tensor t = Tensor::randn({9, 5}, gen, GetParam()).transpose(0, 1);
  ASSERT_FALSE(t.is_contiguous());
  expect_rows_near(rows_of(softmax(t)), map_rows(rows_of(t), ref_softmax), tol(), 1e-3);
  expect_rows_near(rows_of(log_softmax(t)), map_rows(rows_of(t), ref_log_softmax), tol());
}

TEST_P(SoftmaxValues, AccurateAcrossTheExponentRange) {
  // Logit gaps up to 85 put e^(x - max) anywhere in [1e-37, 1]: every probability keeps its
  // relative precision, not just the large ones.
  std::vector<double> row;
  for (int j = 0; j < 171; ++j) row.push_back(-85.0 + 0.5 * j);
  Tensor x = Tensor::from_vector<double>(row, {1, 171}).to(GetParam());
  const double four_ulp = GetParam() == DType::f32 ? 5e-7 : 1e-14;
  expect_rows_near(rows_of(softmax(x)), {ref_softmax(row)}, four_ulp, 0.0);
}

TEST_P(SoftmaxValues, StableForLargeLogits) {
  const std::vector<double> row{1000, 999, 998, -1000, 0};
  for (double sign : {1.0, -1.0}) {
    std::vector<double> r = row;
    for (double& v : r) v *= sign;
    Tensor x = Tensor::from_vector<double>(r, {1, 5}).to(GetParam());
    expect_rows_near(rows_of(softmax(x)), {ref_softmax(r)}, tol(), 1e-3);
    expect_rows_near(rows_of(log_softmax(x)), {ref_log_softmax(r)}, tol());
    const double loss = cross_entropy(x, Tensor::from_vector<int64_t>({1}, {1})).item();
    EXPECT_NEAR(loss, -ref_log_softmax(r)[1], tol() * std::abs(ref_log_softmax(r)[1]));
  }
}

TEST_P(SoftmaxValues, MinusInfinityGetsZeroAndNanPropagates) {
  const double inf = std::numeric_limits<double>::infinity();
  Tensor masked = Tensor::from_vector<double>({0, -inf, 1, -inf}, {1, 4}).to(GetParam());
  const double e = std::exp(1.0);
  expect_rows_near(rows_of(softmax(masked)), {{1 / (1 + e), 0, e / (1 + e), 0}}, tol());
  const Rows log_p = rows_of(log_softmax(masked));
  EXPECT_EQ(log_p[0][1], -inf);
  EXPECT_NEAR(log_p[0][2], -std::log1p(1 / e), tol());
  Tensor with_nan =
      Tensor::from_vector<double>({0, std::nan(""), 1, 2, 3, 4, 5, 6, 7}, {1, 9}).to(GetParam());
  const Rows p = rows_of(softmax(with_nan)), log_q = rows_of(log_softmax(with_nan));
  for (double v : p[0]) EXPECT_TRUE(std::isnan(v));
  for (double v : log_q[0]) EXPECT_TRUE(std::isnan(v));
}

TEST_P(SoftmaxValues, CausalSoftmaxMasksAboveTheDiagonal) {
  for (const Shape& shape : {Shape{2, 3, 5, 5}, Shape{8, 128, 128}}) {
    Tensor x = Tensor::randn(shape, gen, GetParam(), 2.0);
    const Rows got = rows_of(causal_softmax(x)), in = rows_of(x);
    const int64_t t = shape.back();
    for (size_t r = 0; r < in.size(); ++r) {
      const size_t keep = r % t + 1;
      Rows want{ref_softmax({in[r].begin(), in[r].begin() + keep})};
      want[0].resize(t, 0.0);
      expect_rows_near({got[r]}, want, tol(), 1e-3);
    }
  }
}

TEST_P(SoftmaxValues, CrossEntropyIsMeanNegativeLogSoftmaxOfTheTarget) {
  const int64_t n = 300, c = 256;  // large enough for the parallel path
  Tensor x = Tensor::randn({n, c}, gen, GetParam(), 2.0);
  std::vector<int64_t> tv;
  for (int64_t i = 0; i < n; ++i)
    tv.push_back(i % 7 == 3 ? -100 : static_cast<int64_t>(gen.below(c)));
  Tensor targets = Tensor::from_vector<int64_t>(tv, {n});

  Tensor xl = x.detach().set_requires_grad();
  Tensor loss = cross_entropy(xl, targets);
  loss.backward();
  // Reference: mean over kept rows of -log_softmax[target]; gradient (softmax - onehot) / kept.
  const Rows in = rows_of(x), grad = rows_of(xl.grad());
  double total = 0;
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) kept += tv[i] != -100;
  Rows want_grad;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> g(c, 0.0);
    if (tv[i] != -100) {
      total -= ref_log_softmax(in[i])[tv[i]];
      g = ref_softmax(in[i]);
      g[tv[i]] -= 1;
      for (double& v : g) v /= kept;
    }
    want_grad.push_back(g);
  }
  EXPECT_NEAR(loss.item(), total / kept, tol() * total / kept);
  expect_rows_near(grad, want_grad, tol(), 1e-3 / kept);

  // The same through the public composition, on rows that are all kept.
  Tensor all = Tensor::from_vector<int64_t>(std::vector<int64_t>(n, 5), {n});
  Tensor composed = neg(mean(gather(log_softmax(x), 1, all.reshape({n, 1}))));
  EXPECT_NEAR(cross_entropy(x, all).item(), composed.item(), tol() * composed.item());
}

TEST_P(SoftmaxValues, CausalAttentionIsItsComposition) {
  const int64_t b = 2, h = 3, t = 16, d = 8;
  Tensor q = Tensor::randn({b, h, t, d}, gen, GetParam()).set_requires_grad();
  Tensor k = Tensor::randn({b, h, t, d}, gen, GetParam()).set_requires_grad();
  Tensor v = Tensor::randn({b, h, t, d}, gen, GetParam()).set_requires_grad();
  Tensor out = causal_attention(q, k, v);
  Tensor cot = Tensor::randn(out.shape(), gen, GetParam());
  sum(mul(out, cot)).backward();
  const Rows gq = rows_of(q.grad()), gk = rows_of(k.grad()), gv = rows_of(v.grad());
  q.zero_grad(), k.zero_grad(), v.zero_grad();

  Tensor scores = mul(matmul(q, k.transpose(-2, -1)), 1.0 / std::sqrt(double(d)));
  Tensor composed = matmul(causal_softmax(scores), v);
  sum(mul(composed, cot)).backward();
  expect_rows_near(rows_of(out), rows_of(composed), 10 * tol());
  expect_rows_near(gq, rows_of(q.grad()), 10 * tol());
  expect_rows_near(gk, rows_of(k.grad()), 10 * tol());
  expect_rows_near(gv, rows_of(v.grad()), 10 * tol());

  // The first query sees only the first key, so it returns v's first row exactly.
  const Rows o = rows_of(out), vr = rows_of(v);
  for (int64_t bh = 0; bh < b * h; ++bh) expect_rows_near({o[bh * t]}, {vr[bh * t]}, tol());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, SoftmaxValues, ::testing::Values(DType::f32, DType::f64),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(CrossEntropy, AllRowsIgnoredGivesNanLossAndZeroGradient) {
  Tensor x = Tensor::ones({2, 3}, DType::f64).set_requires_grad();
  Tensor loss = cross_entropy(x, Tensor::from_vector<int64_t>({-1, -1}, {2}), -1);
  EXPECT_TRUE(std::isnan(loss.item()));
  loss.backward();
  for (double g : x.grad().to_vector<double>()) EXPECT_EQ(g, 0.0);
}

// Runs fn, expects an octet::Error whose message contains every part.
template <typename Fn>
void expect_error(Fn&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    FAIL() << "expected an error mentioning " << parts[0];
  } catch (const Error& e) {
    for (const auto& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(CrossEntropy, RejectsBadTargets) {
  Tensor x = Tensor::zeros({4, 5});
  expect_error([&] { cross_entropy(x, Tensor::zeros({3}, DType::i64)); },
               {"[cross_entropy]", "i64[3]", "f32[4, 5]"});
  expect_error(
      [&] {
        cross_entropy(x, Tensor::zeros({4, 1}, DType::i64));
      },
      {"[cross_entropy]", "i64[4, 1]"});
  expect_error([&] { cross_entropy(x, Tensor::zeros({4}, DType::i32)); },
               {"[cross_entropy]", "i64", "i32[4]"});
  expect_error([&] { cross_entropy(x, Tensor::zeros({4}, DType::f32)); }, {"[cross_entropy]"});
  expect_error(
      [&] {
        cross_entropy(x, Tensor::from_vector<int64_t>({0, 1, 5, 2}, {4}));
      },
      {"[cross_entropy]", "target 5", "row 2", "[0, 5)"});
  expect_error(
      [&] {
        cross_entropy(x, Tensor::from_vector<int64_t>({0, -1, 1, 2}, {4}));
      },
      {"[cross_entropy]", "target -1"});
  expect_error(
      [&] {
        cross_entropy(Tensor::zeros({2, 3, 4}), Tensor::zeros({2}, DType::i64));
      },
      {"[cross_entropy]", "[N, C]"});
}

TEST(SoftmaxErrors, NameTheOp) {
  expect_error([] { causal_softmax(Tensor::zeros({2, 3, 4})); }, {"[causal_softmax]", "[2, 3, 4]"});
  expect_error([] { softmax(Tensor::zeros({2, 3}, DType::i64)); }, {"[softmax]", "i64"});
  expect_error([] { log_softmax(Tensor::scalar(1.0)); }, {"[log_softmax]"});
  Tensor q = Tensor::zeros({1, 2, 4, 8});
  expect_error(
      [&] {
        causal_attention(q, q, Tensor::zeros({1, 2, 4, 4}));
      },
      {"[causal_attention]", "[1, 2, 4, 4]"});
}

}  // namespace
}  // namespace octet
