// conv2d and max_pool2d against direct loops in double (f32 and f64), output shapes, the
// im2col/col2im adjoint pair, and the error messages for inputs that do not fit.
#include "framework/functional/conv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ops/cpu/conv.h"

namespace octet {
namespace {

struct ConvCase {
  int64_t N, C, H, W, O, KH, KW, stride, padding;
  bool bias;
};

int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p) { return (in + 2 * p - k) / s + 1; }

// Values of a tensor as doubles (exactly what the kernel saw, whatever its dtype).
std::vector<double> values(const Tensor& t) { return t.to(DType::f64).to_vector<double>(); }

// The definition, seven loops deep; abs_sum gets sum |x * w| + |b| per output, the scale of the
// rounding error an f32 kernel may make.
struct Direct {
  std::vector<double> out, abs_sum;
};
Direct direct_conv(const std::vector<double>& x, const std::vector<double>& w,
                   const std::vector<double>& b, const ConvCase& c) {
  const int64_t OH = out_size(c.H, c.KH, c.stride, c.padding);
  const int64_t OW = out_size(c.W, c.KW, c.stride, c.padding);
  Direct d;
  d.out.assign(c.N * c.O * OH * OW, 0.0);
  d.abs_sum.assign(d.out.size(), 0.0);
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t o = 0; o < c.O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const size_t at = ((n * c.O + o) * OH + oh) * OW + ow;
          double acc = b.empty() ? 0.0 : b[o], mag = b.empty() ? 0.0 : std::abs(b[o]);
          for (int64_t ci = 0; ci < c.C; ++ci)
            for (int64_t kh = 0; kh < c.KH; ++kh)
              for (int64_t kw = 0; kw < c.KW; ++kw) {
                const int64_t ih = oh * c.stride - c.padding + kh;
                const int64_t iw = ow * c.stride - c.padding + kw;
                if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
                const double term = x[((n * c.C + ci) * c.H + ih) * c.W + iw] *
                                    w[((o * c.C + ci) * c.KH + kh) * c.KW + kw];
                acc += term;
                mag += std::abs(term);
              }
          d.out[at] = acc;
          d.abs_sum[at] = mag;
        }
  return d;
}

// Gradients plus the sums of their terms' magnitudes (the scale of f32 rounding error).
struct Grads {
  std::vector<double> dx, dw, db, sx, sw, sb;
};
Grads direct_conv_backward(const std::vector<double>& x, const std::vector<double>& w,
                           const std::vector<double>& g, const ConvCase& c) {
  const int64_t OH = out_size(c.H, c.KH, c.stride, c.padding);
  const int64_t OW = out_size(c.W, c.KW, c.stride, c.padding);
  Grads r{std::vector<double>(x.size()), std::vector<double>(w.size()), std::vector<double>(c.O),
          std::vector<double>(x.size()), std::vector<double>(w.size()), std::vector<double>(c.O)};
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t o = 0; o < c.O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const double go = g[((n * c.O + o) * OH + oh) * OW + ow];
          r.db[o] += go;
          r.sb[o] += std::abs(go);
          for (int64_t ci = 0; ci < c.C; ++ci)
            for (int64_t kh = 0; kh < c.KH; ++kh)
              for (int64_t kw = 0; kw < c.KW; ++kw) {
                const int64_t ih = oh * c.stride - c.padding + kh;
                const int64_t iw = ow * c.stride - c.padding + kw;
                if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
                const size_t xi = ((n * c.C + ci) * c.H + ih) * c.W + iw;
                const size_t wi = ((o * c.C + ci) * c.KH + kh) * c.KW + kw;
                r.dx[xi] += go * w[wi];
                r.dw[wi] += go * x[xi];
                r.sx[xi] += std::abs(go * w[wi]);
                r.sw[wi] += std::abs(go * x[xi]);
              }
        }
  return r;
}

// f64 must agree to rounding; f32 to a few ulps of the terms' magnitude.
void expect_close(const std::vector<double>& got, const std::vector<double>& want,
                  const std::vector<double>& scale, DType dtype, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  const double rel = dtype == DType::f64 ? 1e-12 : 1e-5;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = rel * (scale.empty() ? 1.0 : scale[i] + 1.0);
    ASSERT_NEAR(got[i], want[i], tol) << what << " element " << i;
  }
}

class ConvForward : public ::testing::TestWithParam<DType> {
 protected:
  Generator gen{7};
};

const std::vector<ConvCase> kCases = {
    {2, 3, 5, 5, 4, 3, 3, 1, 0, true},     // valid convolution
    {2, 3, 6, 7, 5, 3, 3, 1, 1, true},     // "same" padding, rectangular image
    {3, 2, 9, 7, 3, 3, 2, 2, 1, false},    // stride 2, odd sizes, rectangular kernel, no bias
    {1, 4, 8, 8, 2, 1, 1, 1, 0, true},     // 1x1 convolution
    {2, 1, 4, 5, 3, 5, 5, 3, 2, true},     // padding wider than the image's border taps
    {20, 8, 32, 32, 6, 3, 3, 1, 1, true},  // several chunks of several images each
    {2, 16, 96, 96, 4, 3, 3, 1, 1, true}   // one image per chunk (large columns)
};

TEST_P(ConvForward, MatchesDirectLoops) {
  const DType dt = GetParam();
  for (const ConvCase& c : kCases) {
    const std::string what = "case N" + std::to_string(c.N) + " C" + std::to_string(c.C) + " " +
                             std::to_string(c.H) + "x" + std::to_string(c.W) + " s" +
                             std::to_string(c.stride) + " p" + std::to_string(c.padding);
    Tensor x = Tensor::randn({c.N, c.C, c.H, c.W}, gen, dt);
    Tensor w = Tensor::randn({c.O, c.C, c.KH, c.KW}, gen, dt);
    Tensor b = c.bias ? Tensor::randn({c.O}, gen, dt) : Tensor();
    Tensor y = conv2d(x, w, b, c.stride, c.padding);
    const Shape want_shape{c.N, c.O, out_size(c.H, c.KH, c.stride, c.padding),
                           out_size(c.W, c.KW, c.stride, c.padding)};
    ASSERT_EQ(y.shape(), want_shape) << what;
    ASSERT_EQ(y.dtype(), dt);
    const Direct d =
        direct_conv(values(x), values(w), c.bias ? values(b) : std::vector<double>{}, c);
    expect_close(values(y), d.out, d.abs_sum, dt, what);
  }
}

TEST_P(ConvForward, BackwardMatchesDirectLoops) {
  const DType dt = GetParam();
  for (const ConvCase& c : kCases) {
    Tensor x = Tensor::randn({c.N, c.C, c.H, c.W}, gen, dt).set_requires_grad();
    Tensor w = Tensor::randn({c.O, c.C, c.KH, c.KW}, gen, dt).set_requires_grad();
    Tensor b = Tensor::randn({c.O}, gen, dt).set_requires_grad();
    Tensor y = conv2d(x, w, b, c.stride, c.padding);
    Tensor g = Tensor::randn(y.shape(), gen, dt);
    y.backward(g);
    const Grads r = direct_conv_backward(values(x), values(w), values(g), c);
    expect_close(values(x.grad()), r.dx, r.sx, dt, "dx");
    expect_close(values(w.grad()), r.dw, r.sw, dt, "dw");
    expect_close(values(b.grad()), r.db, r.sb, dt, "db");
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ConvForward, ::testing::Values(DType::f32, DType::f64),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(Conv, NonContiguousInputGivesTheSameResult) {
  Generator gen{3};
  Tensor base = Tensor::randn({2, 3, 7, 6}, gen, DType::f64);
  Tensor x = base.transpose(2, 3);  // [2, 3, 6, 7], not contiguous
  ASSERT_FALSE(x.is_contiguous());
  Tensor w = Tensor::randn({4, 3, 3, 3}, gen, DType::f64);
  const std::vector<double> strided = values(conv2d(x, w, Tensor(), 2, 1));
  const std::vector<double> dense = values(conv2d(x.contiguous(), w, Tensor(), 2, 1));
  EXPECT_EQ(strided, dense);
}

// <im2col(x), c> == <x, col2im(c)>: col2im is exactly the adjoint, padding and strides included.
TEST(Conv, Col2imIsTheAdjointOfIm2col) {
  Generator gen{11};
  Tensor x = Tensor::randn({2, 3, 7, 5}, gen, DType::f64);
  Tensor w = Tensor::empty({4, 3, 3, 2}, DType::f64);
  const cpu::Conv2dGeometry g = cpu::conv2d_geometry(x.view(), w.view(), 2, 1);
  EXPECT_EQ(g.out_h, 4);
  EXPECT_EQ(g.out_w, 3);
  Tensor cols = Tensor::empty({g.patch(), 2 * g.out_pixels()}, DType::f64);
  cpu::im2col(x.view(), g, cols.view());
  Tensor c = Tensor::randn(cols.shape(), gen, DType::f64);
  Tensor back = Tensor::empty(x.shape(), DType::f64);
  cpu::col2im(c.view(), g, back.view());
  double lhs = 0, rhs = 0;
  const auto cv = values(cols), cc = values(c), xv = values(x), bv = values(back);
  for (size_t i = 0; i < cv.size(); ++i) lhs += cv[i] * cc[i];
  for (size_t i = 0; i < xv.size(); ++i) rhs += xv[i] * bv[i];
  EXPECT_NEAR(lhs, rhs, 1e-10 * (std::abs(lhs) + 1));
}

// Runs f and returns the message of the octet::Error it must throw.
template <typename F>
std::string error_of(F&& f, const std::string& op) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.op(), op) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

void expect_mentions(const std::string& msg, const std::vector<std::string>& parts) {
  for (const auto& p : parts)
    EXPECT_NE(msg.find(p), std::string::npos) << "missing '" << p << "' in: " << msg;
}

TEST(Conv, ErrorsNameTheMismatch) {
  Tensor x = Tensor::zeros({2, 3, 8, 8});
  expect_mentions(error_of(
                      [&] {
                        conv2d(x, Tensor::zeros({4, 5, 3, 3}), Tensor());
                      },
                      "conv2d"),
                  {"[2, 3, 8, 8]", "3 channels", "[4, 5, 3, 3]", "expects 5"});
  expect_mentions(error_of(
                      [&] {
                        conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor::zeros({5}));
                      },
                      "conv2d"),
                  {"bias", "f32[5]", "f32[4]"});
  expect_mentions(error_of(
                      [&] {
                        conv2d(x, Tensor::zeros({4, 3, 9, 9}), Tensor());
                      },
                      "conv2d"),
                  {"9x9", "larger than the input 8x8"});
  expect_mentions(error_of(
                      [&] {
                        conv2d(Tensor::zeros({3, 8, 8}), Tensor::zeros({4, 3, 3, 3}), Tensor());
                      },
                      "conv2d"),
                  {"[N, C, H, W]", "[3, 8, 8]"});
  expect_mentions(error_of(
                      [&] {
                        conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), 0);
                      },
                      "conv2d"),
                  {"stride >= 1"});
  expect_mentions(error_of(
                      [&] {
                        conv2d(x, Tensor::zeros({4, 3, 3, 3}, DType::f64), Tensor());
                      },
                      "conv2d"),
                  {"dtypes differ"});
  expect_mentions(error_of(
                      [&] {
                        max_pool2d(Tensor::zeros({1, 1, 3, 3}), 4);
                      },
                      "max_pool2d"),
                  {"kernel 4", "3x3"});
}

// ---- max pooling ----------------------------------------------------------------------------

std::vector<double> direct_max_pool(const std::vector<double>& x, const Shape& s, int64_t k,
                                    int64_t stride) {
  const int64_t OH = (s[2] - k) / stride + 1, OW = (s[3] - k) / stride + 1;
  std::vector<double> out;
  for (int64_t pl = 0; pl < s[0] * s[1]; ++pl)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t kh = 0; kh < k; ++kh)
          for (int64_t kw = 0; kw < k; ++kw)
            m = std::max(m, x[(pl * s[2] + oh * stride + kh) * s[3] + ow * stride + kw]);
        out.push_back(m);
      }
  return out;
}

TEST(MaxPool, MatchesDirectLoops) {
  Generator gen{5};
  struct Case {
    Shape x;
    int64_t kernel, stride;
  };
  for (const Case& c : {Case{{2, 3, 8, 8}, 2, 2}, Case{{2, 2, 7, 9}, 2, 2},
                        Case{{1, 3, 9, 7}, 3, 2}, Case{{3, 1, 5, 6}, 3, 1}}) {
    for (DType dt : {DType::f32, DType::f64}) {
      Tensor x = Tensor::randn(c.x, gen, dt);
      Tensor y = max_pool2d(x, c.kernel, c.stride == c.kernel ? 0 : c.stride);
      const Shape want{c.x[0], c.x[1], (c.x[2] - c.kernel) / c.stride + 1,
                       (c.x[3] - c.kernel) / c.stride + 1};
      ASSERT_EQ(y.shape(), want);
      EXPECT_EQ(values(y), direct_max_pool(values(x), c.x, c.kernel, c.stride));
    }
  }
}

TEST(MaxPool, TiesSendTheGradientToTheFirstMaximumAndNaNPropagates) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x =
      Tensor::from_vector<double>({1, 5, 5, 2, /**/ 0, 0, 7, nan, /**/ 3, 3, 3, 3}, {1, 3, 2, 2})
          .set_requires_grad();
  Tensor y = max_pool2d(x, 2);
  const std::vector<double> out = y.to_vector<double>();
  EXPECT_EQ(out[0], 5);
  EXPECT_TRUE(std::isnan(out[1]));
  EXPECT_EQ(out[2], 3);
  y.backward(Tensor::from_vector<double>({10, 20, 30}, {1, 3, 1, 1}));
  EXPECT_EQ(x.grad().to_vector<double>(),
            (std::vector<double>{0, 10, 0, 0, /**/ 0, 0, 0, 20, /**/ 30, 0, 0, 0}));
}

}  // namespace
}  // namespace octet
