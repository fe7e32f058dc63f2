// Forward values against double references (f32 and f64), the invariants of each op, error
// messages, and determinism of the reduced gradients across thread counts.
#include "framework/functional/norm.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <string>
#include <vector>

#include "framework/functional/arithmetic.h"

namespace octet {
namespace {

std::vector<double> values(const Tensor& t) { return t.to(DType::f64).to_vector<double>(); }

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << "element " << i;
}

// Straightforward per-row references in double.
std::vector<double> ref_norm(const std::vector<double>& x, const std::vector<double>& w,
                             const std::vector<double>* b, bool centred, double eps) {
  const size_t d = w.size();
  std::vector<double> y(x.size());
  for (size_t r = 0; r < x.size() / d; ++r) {
    double mu = 0, var = 0;
    if (centred) {
      for (size_t i = 0; i < d; ++i) mu += x[r * d + i];
      mu /= d;
    }
    for (size_t i = 0; i < d; ++i) var += (x[r * d + i] - mu) * (x[r * d + i] - mu);
    const double rs = 1 / std::sqrt(var / d + eps);
    for (size_t i = 0; i < d; ++i)
      y[r * d + i] = (x[r * d + i] - mu) * rs * w[i] + (b ? (*b)[i] : 0.0);
  }
  return y;
}

class NormTest : public ::testing::TestWithParam<DType> {
 protected:
  double tol() const { return GetParam() == DType::f32 ? 2e-5 : 1e-12; }
  Tensor randn(const Shape& s, double stddev = 1.0) {
    return Tensor::randn(s, gen, GetParam(), stddev);
  }
  Generator gen{11};
};

TEST_P(NormTest, LayerNormMatchesReference) {
  for (Shape shape : {Shape{5, 33}, Shape{2048, 256}}) {
    Tensor x = add(randn(shape, 2.0), 3.0), w = randn({shape[1]}), b = randn({shape[1]});
    const auto xv = values(x), wv = values(w), bv = values(b);
    expect_near_all(values(layer_norm(x, w, b)), ref_norm(xv, wv, &bv, true, 1e-5), tol());
    expect_near_all(values(layer_norm(x, w, Tensor(), 0.1)), ref_norm(xv, wv, nullptr, true, 0.1),
                    tol());
  }
}

TEST_P(NormTest, LayerNormKeepsAccuracyWhenTheMeanDwarfsTheSpread) {
  // The statistics come from one shifted pass; a plain E[x^2] - E[x]^2 would lose every digit
  // of the variance here in f32.
  Tensor x = add(randn({64, 256}), 1000.0), w = randn({256}), b = randn({256});
  const auto xv = values(x), wv = values(w), bv = values(b);
  expect_near_all(values(layer_norm(x, w, b)), ref_norm(xv, wv, &bv, true, 1e-5),
                  GetParam() == DType::f32 ? 2e-3 : 1e-10);
}

TEST_P(NormTest, RmsNormMatchesReference) {
  for (Shape shape : {Shape{3, 4, 17}, Shape{2048, 256}}) {
    Tensor x = randn(shape), w = randn({shape.back()});
    expect_near_all(values(rms_norm(x, w)), ref_norm(values(x), values(w), nullptr, false, 1e-6),
                    tol());
  }
}

TEST_P(NormTest, LayerNormRowsHaveZeroMeanUnitVariance) {
  const int64_t d = 96;
  Tensor x = add(randn({40, d}, 3.0), -5.0);
  Tensor y = layer_norm(x, Tensor::ones({d}, GetParam()), Tensor::zeros({d}, GetParam()));
  const auto yv = values(y);
  for (int64_t r = 0; r < 40; ++r) {
    double mu = 0, var = 0;
    for (int64_t i = 0; i < d; ++i) mu += yv[r * d + i] / d;
    for (int64_t i = 0; i < d; ++i) var += (yv[r * d + i] - mu) * (yv[r * d + i] - mu) / d;
    EXPECT_NEAR(mu, 0.0, 1e-5) << "row " << r;
    EXPECT_NEAR(var, 1.0, 1e-4) << "row " << r;  // eps / sigma^2 ~ 1e-6
  }
}

// Backward at the training shape (parallel, many row blocks) against the textbook formulas in
// double, and bitwise equal with 1 and 2 threads.
TEST_P(NormTest, NormBackwardMatchesReferenceAndIgnoresThreadCount) {
  const int64_t rows = 2048, d = 256;
  for (bool centred : {true, false}) {
    Tensor x = randn({rows, d}), w = randn({d}), b = randn({d}), g = randn({rows, d});
    auto run = [&](int threads) {
      omp_set_num_threads(threads);
      Tensor xl = x.detach().set_requires_grad(), wl = w.detach().set_requires_grad();
      Tensor bl = b.detach().set_requires_grad();
      Tensor y = centred ? layer_norm(xl, wl, bl) : rms_norm(xl, wl);
      y.backward(g);
      return std::vector<Tensor>{xl.grad(), wl.grad(), centred ? bl.grad() : Tensor()};
    };
    const auto two = run(2), one = run(1);
    omp_set_num_threads(2);
    EXPECT_EQ(values(two[1]), values(one[1]));
    if (centred) {
      EXPECT_EQ(values(two[2]), values(one[2]));
    }

    const double eps = centred ? 1e-5 : 1e-6;
    const auto xv = values(x), wv = values(w), gv = values(g);
    std::vector<double> dx(rows * d), dw(d, 0.0), db(d, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      double mu = 0, var = 0, a = 0, c = 0;
      if (centred)
        for (int64_t i = 0; i < d; ++i) mu += xv[r * d + i] / d;
      for (int64_t i = 0; i < d; ++i) var += (xv[r * d + i] - mu) * (xv[r * d + i] - mu) / d;
      const double rs = 1 / std::sqrt(var + eps);
      for (int64_t i = 0; i < d; ++i) {
        const double xh = (xv[r * d + i] - mu) * rs, gw = gv[r * d + i] * wv[i];
        a += gw / d;
        c += gw * xh / d;
        dw[i] += gv[r * d + i] * xh;
        db[i] += gv[r * d + i];
      }
      for (int64_t i = 0; i < d; ++i) {
        const double xh = (xv[r * d + i] - mu) * rs;
        dx[r * d + i] = rs * (gv[r * d + i] * wv[i] - (centred ? a : 0.0) - xh * c);
      }
    }
    const double t = GetParam() == DType::f32 ? 1e-4 : 1e-10;
    expect_near_all(values(two[0]), dx, t);
    expect_near_all(values(two[1]), dw, t);
    if (centred) expect_near_all(values(two[2]), db, t);
  }
}

TEST_P(NormTest, RopeMatchesReferenceAndPreservesPairNorms) {
  const int64_t B = 2, H = 3, T = 40, D = 16, half = D / 2, offset = 5000;
  const double base = 10000.0;
  Tensor x = randn({B, H, T, D});
  const auto xv = values(x), yv = values(rope(x, base, offset));
  for (int64_t r = 0; r < B * H * T; ++r) {
    const double pos = static_cast<double>(offset + r % T);
    for (int64_t i = 0; i < half; ++i) {
      const double angle = pos * std::pow(base, -2.0 * i / D);
      const double lo = xv[r * D + i], hi = xv[r * D + i + half];
      const double want_lo = lo * std::cos(angle) - hi * std::sin(angle);
      const double want_hi = lo * std::sin(angle) + hi * std::cos(angle);
      ASSERT_NEAR(yv[r * D + i], want_lo, tol() * 4) << "row " << r << " pair " << i;
      ASSERT_NEAR(yv[r * D + i + half], want_hi, tol() * 4) << "row " << r << " pair " << i;
      const double norm_in = std::hypot(lo, hi);
      const double norm_out = std::hypot(yv[r * D + i], yv[r * D + i + half]);
      ASSERT_NEAR(norm_out, norm_in, tol() * 4 * (1 + norm_in));
    }
  }
}

TEST_P(NormTest, RopeAtPositionZeroIsIdentity) {
  Tensor x = randn({2, 2, 5, 8});
  const auto xv = values(x), yv = values(rope(x));
  for (int64_t r = 0; r < 4; ++r)  // t = 0 of every (b, h)
    for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(yv[r * 5 * 8 + i], xv[r * 5 * 8 + i]);
}

TEST_P(NormTest, RopeOffsetMatchesTheSameRowsOfALongerSequence) {
  // What a KV cache relies on: positions [3, 9) rotated with offset 3 equal the full sequence's.
  Tensor x = randn({1, 2, 9, 12});
  Tensor tail = x.slice(2, 3, 9);
  expect_near_all(values(rope(tail, 10000.0, 3)), values(rope(x).slice(2, 3, 9)), tol());
}

TEST_P(NormTest, EmbeddingGathersAndScattersRows) {
  Tensor w = randn({5, 3}).set_requires_grad();
  Tensor idx = Tensor::from_vector<int64_t>({4, 0, 4, 2, 4, 0}, {2, 3});
  Tensor y = embedding(idx, w);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 3}));
  const auto wv = values(w), yv = values(y);
  const std::vector<int64_t> picks = {4, 0, 4, 2, 4, 0};
  for (size_t n = 0; n < picks.size(); ++n)
    for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(yv[n * 3 + i], wv[picks[n] * 3 + i]);
  Tensor g = randn({2, 3, 3});
  y.backward(g);
  const auto gv = values(g), gw = values(w.grad());
  std::vector<double> want(15, 0.0);
  for (size_t n = 0; n < picks.size(); ++n)
    for (int64_t i = 0; i < 3; ++i) want[picks[n] * 3 + i] += gv[n * 3 + i];
  expect_near_all(gw, want, tol());
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(gw[3 + i], 0.0);  // row 1 never picked
}

TEST_P(NormTest, EmbeddingBackwardIsThreadCountIndependent) {
  const int64_t n = 4096, v = 50, d = 64;
  std::vector<int64_t> picks(n);
  for (auto& p : picks) p = static_cast<int64_t>(gen.below(7) == 0 ? gen.below(v) : 3);
  Tensor idx = Tensor::from_vector(picks, {n}), g = randn({n, d}), w = randn({v, d});
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    Tensor wl = w.detach().set_requires_grad();
    embedding(idx, wl).backward(g);
    return values(wl.grad());
  };
  const auto two = run(2), one = run(1);
  omp_set_num_threads(2);
  EXPECT_EQ(two, one);
}

INSTANTIATE_TEST_SUITE_P(Floats, NormTest, ::testing::Values(DType::f32, DType::f64),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(Embedding, OutOfRangeIndexNamesOpAndIndex) {
  Tensor w = Tensor::zeros({4, 2});
  for (int64_t bad : {int64_t{9}, int64_t{-1}}) {
    Tensor idx = Tensor::from_vector<int64_t>({0, bad, 1}, {3});
    try {
      embedding(idx, w);
      FAIL() << "no error for index " << bad;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.op(), "embedding");
      EXPECT_NE(what.find("[embedding]"), std::string::npos) << what;
      EXPECT_NE(what.find("index " + std::to_string(bad)), std::string::npos) << what;
    }
  }
  EXPECT_THROW(embedding(Tensor::zeros({3}), w), Error);  // f32 indices
}

class Dropout : public ::testing::Test {
 protected:
  Generator gen{5};
};

TEST_F(Dropout, KeepsAboutOneMinusPAndScalesSurvivors) {
  const int64_t n = 200000;
  for (double p : {0.1, 0.5, 0.9}) {
    Tensor x = Tensor::rand({n}, gen, DType::f32, 1.0, 2.0);  // never 0, so zeros mean dropped
    Generator g(99);
    const auto xv = values(x), yv = values(dropout(x, p, true, g));
    int64_t kept = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (yv[i] == 0) continue;
      ++kept;
      ASSERT_NEAR(yv[i], xv[i] / (1 - p), 1e-6 * yv[i]);
    }
    const double sigma = std::sqrt(n * p * (1 - p));
    EXPECT_NEAR(static_cast<double>(kept), n * (1 - p), 5 * sigma) << "p " << p;
  }
}

TEST_F(Dropout, IdentityInEvalModeAndAtPZero) {
  Tensor x = Tensor::randn({4, 5}, gen);
  const auto before = gen.state();
  EXPECT_TRUE(dropout(x, 0.5, false, gen).same(x));
  EXPECT_TRUE(dropout(x, 0.0, true, gen).same(x));
  EXPECT_EQ(gen.state(), before);  // no draws spent
}

TEST_F(Dropout, PEqualOneDropsEverything) {
  Tensor x = Tensor::randn({64}, gen);
  for (double v : values(dropout(x, 1.0, true, gen))) EXPECT_EQ(v, 0.0);
  EXPECT_THROW(dropout(x, 1.5, true, gen), Error);
  EXPECT_THROW(dropout(x, -0.1, true, gen), Error);
}

TEST_F(Dropout, SameSeedSameMaskAndGradientUsesIt) {
  Tensor x = Tensor::rand({3, 50}, gen, DType::f64, 1.0, 2.0).set_requires_grad();
  Generator a(3), b(3), c(4);
  Tensor ya = dropout(x, 0.3, true, a);
  EXPECT_EQ(values(ya), values(dropout(x, 0.3, true, b)));
  EXPECT_NE(values(ya), values(dropout(x, 0.3, true, c)));
  sum(ya).backward();
  const auto yv = values(ya), xv = values(x), gx = values(x.grad());
  for (size_t i = 0; i < yv.size(); ++i)
    EXPECT_NEAR(gx[i], yv[i] == 0 ? 0.0 : 1 / 0.7, 1e-12) << "element " << i << " x " << xv[i];
}

}  // namespace
}  // namespace octet
