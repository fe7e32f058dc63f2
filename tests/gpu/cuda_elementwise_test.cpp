// The CUDA elementwise and reduction kernels against their CPU twins on fresh random inputs: every
// binary and unary op (with broadcasting, non-contiguous views and strided outputs, f32 and f64),
// their backward rules through autograd, reductions over several dim sets and sizes (each launch
// path), and argmax with ties and NaNs.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "framework/functional/arithmetic.h"
#include "framework/tensor/tensor.h"
#include "ops/cpu/broadcast.h"
#include "ops/cpu/elementwise.h"
#include "ops/cpu/reduce.h"
#include "ops/cuda/elementwise.h"
#include "ops/cuda/reduce.h"
#include "tests/gpu/cuda_elementwise_compare.h"
#include "tests/support/gpu_util.h"

namespace octet {
namespace {

using cpu::BinaryOp;
using cpu::ReduceOp;
using cpu::UnaryOp;
using testing::all_close;
using testing::all_equal;
using testing::gpu0;
using testing::tol_for;

const BinaryOp kBinaryOps[] = {BinaryOp::add, BinaryOp::sub,     BinaryOp::mul,
                               BinaryOp::div, BinaryOp::maximum, BinaryOp::minimum};
const UnaryOp kUnaryOps[] = {UnaryOp::neg,  UnaryOp::exp,    UnaryOp::log,  UnaryOp::tanh,
                             UnaryOp::relu, UnaryOp::gelu,   UnaryOp::silu, UnaryOp::sigmoid,
                             UnaryOp::sqrt, UnaryOp::square, UnaryOp::abs};
const DType kFloatTypes[] = {DType::f32, DType::f64};

// Values away from 0 (for divisors, log and sqrt): |x| in [0.25, 2.25), random sign unless
// `positive`.
Tensor away_from_zero(const Shape& shape, Generator& gen, DType t, bool positive) {
  Tensor mag = Tensor::rand(shape, gen, DType::f64, 0.25, 2.25);
  if (positive) return mag.to(t);
  Tensor sign = Tensor::rand(shape, gen, DType::f64, -1, 1);
  return (mag * (sign / abs(sign))).to(t);
}

Tensor same(const Tensor& t) { return t; }

// An operand pair: base tensors built on the CPU and the views taken of them, so the device
// operands are views of device storage (non-contiguous, with offsets) like the host ones.
struct BinaryCase {
  std::string name;
  Tensor a, b;
  Tensor (*view_a)(const Tensor&) = same;
  Tensor (*view_b)(const Tensor&) = same;
};

std::vector<BinaryCase> binary_cases(Generator& gen, DType t) {
  std::vector<BinaryCase> cases;
  auto rn = [&](const Shape& s) { return Tensor::randn(s, gen, t); };
  cases.push_back(
      {"same shape contiguous", rn({64, 300}), away_from_zero({64, 300}, gen, t, false)});
  cases.push_back({"row broadcast", rn({4, 5, 6}), away_from_zero({6}, gen, t, false)});
  cases.push_back({"both broadcast", rn({4, 1, 6}), away_from_zero({5, 1}, gen, t, false)});
  cases.push_back({"scalar tensor", rn({3, 7}), away_from_zero({}, gen, t, false)});
  cases.push_back({"transposed views", rn({6, 5, 4}), away_from_zero({5, 8, 6}, gen, t, false),
                   [](const Tensor& x) { return x.transpose(0, 2); },
                   [](const Tensor& x) {
                     return x.permute({1, 0, 2}).slice(0, 2, 6);
                   }});
  cases.push_back({"broadcast view", rn({10, 3}), away_from_zero({3, 8}, gen, t, false),
                   [](const Tensor& x) { return x.slice(0, 1, 9).transpose(0, 1); },
                   [](const Tensor& x) { return x.slice(0, 1, 2); }});
  return cases;
}

TEST(CudaElementwise, BinaryOpsBroadcastLikeTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(11);
  for (DType t : kFloatTypes) {
    for (const BinaryCase& c : binary_cases(gen, t)) {
      Tensor a = c.view_a(c.a), b = c.view_b(c.b);
      Tensor ad = c.view_a(c.a.cuda()), bd = c.view_b(c.b.cuda());
      const Shape shape = cpu::broadcast_shapes("test", a.shape(), b.shape());
      for (BinaryOp op : kBinaryOps) {
        Tensor want = Tensor::empty(shape, t);
        cpu::binary(op, a.view(), b.view(), want.view());
        Tensor got = Tensor::empty(shape, t, gpu0());
        cuda::binary(op, ad.view(), bd.view(), got.view());
        EXPECT_TRUE(all_close(got, want, tol_for(t)))
            << c.name << ", op " << int(op) << ", " << dtype_name(t);
        // Into a strided output: the transpose of a fresh tensor.
        if (shape.size() == 2) {
          Tensor base = Tensor::zeros({shape[1], shape[0]}, t, gpu0());
          Tensor strided = base.transpose(0, 1);
          cuda::binary(op, ad.view(), bd.view(), strided.view());
          EXPECT_TRUE(all_close(strided, want, tol_for(t))) << c.name << " strided out";
        }
      }
    }
  }
}

TEST(CudaElementwise, ScalarAxpbyAndPowMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(12);
  for (DType t : kFloatTypes) {
    Tensor base = away_from_zero({33, 17}, gen, t, false);
    Tensor a = base.transpose(0, 1), ad = base.cuda().transpose(0, 1);  // non-contiguous
    Tensor b = Tensor::randn({17, 33}, gen, t), bd = b.cuda();
    for (BinaryOp op : kBinaryOps) {
      for (bool first : {false, true}) {
        Tensor want = Tensor::empty(a.shape(), t);
        cpu::binary_scalar(op, a.view(), -1.75, want.view(), first);
        Tensor got = Tensor::empty(a.shape(), t, gpu0());
        cuda::binary_scalar(op, ad.view(), -1.75, got.view(), first);
        EXPECT_TRUE(all_close(got, want, tol_for(t))) << int(op) << " first " << first;
      }
    }
    Tensor want = Tensor::empty(a.shape(), t);
    cpu::axpby(a.view(), 0.3, b.view(), -1.25, want.view());
    Tensor got = Tensor::empty(a.shape(), t, gpu0());
    cuda::axpby(ad.view(), 0.3, bd.view(), -1.25, got.view());
    EXPECT_TRUE(all_close(got, want, tol_for(t))) << "axpby";
    Tensor pos = abs(a), posd = abs(ad);
    for (double p : {2.0, 2.5, -0.5, 3.0}) {
      cpu::pow_scalar(pos.view(), p, want.view());
      cuda::pow_scalar(posd.view(), p, got.view());
      EXPECT_TRUE(all_close(got, want, tol_for(t))) << "pow " << p;
    }
    // Contiguous but not 16-byte aligned (offset by one element): the dense path without packs,
    // also in place. (pow above covers the packed path's tail: 561 elements.)
    Tensor flat = Tensor::randn({1003}, gen, t);
    Tensor x = flat.slice(0, 1, 1003), xd = flat.cuda().slice(0, 1, 1003);
    Tensor want_flat = Tensor::empty({1002}, t), got_flat = Tensor::empty({1002}, t, gpu0());
    cpu::unary(UnaryOp::gelu, x.view(), want_flat.view());
    cuda::unary(UnaryOp::gelu, xd.view(), got_flat.view());
    EXPECT_TRUE(all_close(got_flat, want_flat, tol_for(t))) << "misaligned gelu";
    cpu::binary(BinaryOp::mul, x.view(), want_flat.view(), want_flat.view());  // in place
    cuda::binary(BinaryOp::mul, xd.view(), got_flat.view(), got_flat.view());
    EXPECT_TRUE(all_close(got_flat, want_flat, tol_for(t))) << "misaligned in-place mul";
  }
}

// Inputs for a unary op: positive where the op needs it, and spread over the range where the fast
// exp/tanh switch formulas (|x| < 0.125, large |x|).
Tensor unary_input(UnaryOp op, const Shape& shape, Generator& gen, DType t) {
  if (op == UnaryOp::log || op == UnaryOp::sqrt) return away_from_zero(shape, gen, t, true);
  return Tensor::randn(shape, gen, t, 3.0);
}

TEST(CudaElementwise, UnaryOpsAndDerivativesMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(13);
  for (DType t : kFloatTypes) {
    for (UnaryOp op : kUnaryOps) {
      for (bool transposed : {false, true}) {
        Tensor base = unary_input(op, {40, 70}, gen, t);
        Tensor x = transposed ? base.transpose(0, 1) : base;
        Tensor xd = transposed ? base.cuda().transpose(0, 1) : base.cuda();
        Tensor dy = Tensor::randn(x.shape(), gen, t);
        Tensor y = Tensor::empty(x.shape(), t), dx = Tensor::empty(x.shape(), t);
        cpu::unary(op, x.view(), y.view());
        cpu::unary_backward(op, x.view(), y.view(), dy.view(), dx.view());
        Tensor yd = Tensor::empty(x.shape(), t, gpu0());
        Tensor dxd = Tensor::empty(x.shape(), t, gpu0());
        cuda::unary(op, xd.view(), yd.view());
        EXPECT_TRUE(all_close(yd, y, tol_for(t)))
            << "unary " << int(op) << " " << dtype_name(t) << " transposed " << transposed;
        // The backward from the CPU's y, so only the derivative is compared.
        cuda::unary_backward(op, xd.view(), y.cuda().view(), dy.cuda().view(), dxd.view());
        EXPECT_TRUE(all_close(dxd, dx, tol_for(t)))
            << "backward " << int(op) << " " << dtype_name(t) << " transposed " << transposed;
      }
    }
  }
}

TEST(CudaElementwise, FastMathEdgeValuesMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  const double inf = std::numeric_limits<double>::infinity();
  Tensor x = Tensor::from_vector<float>(
      {0.0f, -0.0f, 1e-8f, -0.1f, 0.124f, 0.126f, 20.f, -20.f, 88.5f, -87.f, -104.f, 100.f,
       static_cast<float>(inf), static_cast<float>(-inf), std::numeric_limits<float>::quiet_NaN()},
      {15});
  Tensor xd = x.cuda();
  for (UnaryOp op : {UnaryOp::exp, UnaryOp::tanh, UnaryOp::sigmoid, UnaryOp::gelu, UnaryOp::silu,
                     UnaryOp::relu, UnaryOp::abs}) {
    Tensor want = Tensor::empty({15}), got = Tensor::empty({15}, DType::f32, gpu0());
    cpu::unary(op, x.view(), want.view());
    cuda::unary(op, xd.view(), got.view());
    EXPECT_TRUE(all_close(got, want, tol_for(DType::f32))) << "op " << int(op);
  }
}

// Every differentiable op of framework/functional/arithmetic.h on the GPU: the same values and the
// same gradients as on the CPU.
TEST(CudaElementwise, AutogradThroughEveryOpMatchesTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(14);
  using Fn = Tensor (*)(const Tensor&, const Tensor&);
  const std::vector<std::pair<std::string, Fn>> binary = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }},
      {"scalar ops",
       [](const Tensor& a, const Tensor& b) { return rsub(2.0, a) * 3.0 + rdiv(1.5, b) - 0.5; }},
      {"pow", [](const Tensor& a, const Tensor& b) { return pow(abs(a) + 0.5, 1.7) * b; }},
      {"unaries",
       [](const Tensor& a, const Tensor& b) {
         return exp(a) + log(abs(b)) + tanh(a) + relu(a) + gelu(a) + silu(b) + sigmoid(a) +
                sqrt(abs(b)) + square(a) + neg(b);
       }},
      {"reductions",
       [](const Tensor& a, const Tensor& b) {
         return expand(sum(a, {0}, true), {5, 6}) * mean(b, {-1}, true) + sum(a * b, {1}, true);
       }},
  };
  for (DType t : kFloatTypes) {
    // f32 sums accumulate in float on the GPU and in double on the CPU (see ops/cuda/reduce.h).
    const testing::Tol tol = t == DType::f64 ? tol_for(t) : testing::Tol{2e-5, 2e-5};
    for (const auto& [name, fn] : binary) {
      Tensor a = Tensor::randn({5, 6}, gen, t), b = away_from_zero({6}, gen, t, false);
      if (name == "reductions" || name == "unaries") b = away_from_zero({5, 6}, gen, t, false);
      Tensor w = Tensor::randn({5, 6}, gen, t);
      Tensor ac = a.clone().set_requires_grad(), bc = b.clone().set_requires_grad();
      Tensor ag = a.cuda().set_requires_grad(), bg = b.cuda().set_requires_grad();
      Tensor yc = fn(ac, bc), yg = fn(ag, bg);
      EXPECT_EQ(yg.device(), gpu0()) << name;
      EXPECT_TRUE(all_close(yg, yc, tol)) << name << " forward " << dtype_name(t);
      sum(mul(yc, expand(w, yc.shape()))).backward();
      sum(mul(yg, expand(w.cuda(), yg.shape()))).backward();
      ASSERT_TRUE(ag.grad().defined() && bg.grad().defined()) << name;
      EXPECT_EQ(ag.grad().device(), gpu0()) << name;
      EXPECT_TRUE(all_close(ag.grad(), ac.grad(), tol)) << name << " da " << dtype_name(t);
      EXPECT_TRUE(all_close(bg.grad(), bc.grad(), tol)) << name << " db " << dtype_name(t);
    }
  }
}

TEST(CudaElementwise, MixedDevicesAreAClearError) {
  OCTET_REQUIRE_GPU();
  Tensor a = Tensor::ones({3}), b = Tensor::ones({3}, DType::f32, gpu0());
  EXPECT_THROW(add(a, b), Error);
  EXPECT_THROW(mul(b, a), Error);
}

// Sums accumulate in float on the GPU for f32 (in a tree), in double on the CPU: the error bound
// follows the summed magnitudes, sum |x| over each output's elements.
::testing::AssertionResult sums_close(const Tensor& got, const Tensor& want, const Tensor& x) {
  Tensor mag = Tensor::empty(want.shape(), x.dtype());
  cpu::reduce(ReduceOp::sum, abs(x).view(), mag.view());
  const double rel = x.dtype() == DType::f64 ? 1e-13 : 4e-6;
  const std::vector<double> g = testing::host_f64(got), w = testing::host_f64(want),
                            m = testing::host_f64(mag);
  for (size_t i = 0; i < w.size(); ++i)
    if (!(std::abs(g[i] - w[i]) <= rel * m[i] + 1e-30))
      return ::testing::AssertionFailure() << "output " << i << ": gpu " << g[i] << " vs cpu "
                                           << w[i] << " (sum |x| " << m[i] << ")";
  return ::testing::AssertionSuccess();
}

TEST(CudaReduce, EveryOpOverVariousDimsMatchesTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(15);
  struct Case {
    Shape shape;
    std::vector<int64_t> dims;  // reduced
    bool transpose;             // reduce a transposed view of the input
  };
  // Short reductions (serial path); outer dims under adjacent outputs (column path, one chunk or
  // several); up to 1024 (warp path); longer (block path, chunked when there are few outputs);
  // leading, trailing, middle and all dims; strided inputs.
  const std::vector<Case> cases = {
      {{7, 33, 129}, {0}, false},
      {{7, 33, 129}, {1}, false},
      {{7, 33, 129}, {2}, false},
      {{7, 33, 129}, {0, 2}, false},
      {{7, 33, 129}, {0, 1, 2}, false},
      {{7, 33, 129}, {1}, true},
      {{5000, 40}, {0}, false},
      {{40, 64}, {0}, false},
      {{100, 64}, {0}, false},
      {{3, 70000}, {1}, false},
      {{2, 200000}, {0, 1}, false},
      {{300, 9}, {1}, true},
      {{1}, {0}, false},
      {{4, 0, 3}, {1}, false},
  };
  for (DType t : kFloatTypes) {
    for (const Case& c : cases) {
      Tensor x = Tensor::randn(c.shape, gen, t), xd = x.cuda();
      if (c.transpose) {
        const int64_t last = static_cast<int64_t>(c.shape.size()) - 1;
        x = x.transpose(0, last);
        xd = xd.transpose(0, last);
      }
      Shape kept = x.shape();
      for (int64_t d : c.dims) kept[d] = 1;
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min, ReduceOp::amax}) {
        if (x.numel() == 0 && op != ReduceOp::sum) continue;
        Tensor want = Tensor::empty(kept, t), got = Tensor::empty(kept, t, gpu0());
        cpu::reduce(op, x.view(), want.view());
        cuda::reduce(op, xd.view(), got.view());
        const std::string what = shape_str(x.shape()) + " -> " + shape_str(kept) + " op " +
                                 std::to_string(int(op)) + " " + dtype_name(t);
        if (op == ReduceOp::sum)
          EXPECT_TRUE(sums_close(got, want, x)) << what;
        else
          EXPECT_TRUE(all_equal(got, want)) << what;  // exact: no rounding in a max
      }
    }
  }
}

TEST(CudaReduce, NanPropagatesThroughMaxMinAndAmax) {
  OCTET_REQUIRE_GPU();
  Generator gen(16);
  for (const Shape& shape : {Shape{6, 20}, Shape{6, 3000}}) {
    Tensor x = Tensor::randn(shape, gen);
    std::vector<float> v = x.to_vector<float>();
    v[2 * shape[1] + shape[1] / 2] = std::numeric_limits<float>::quiet_NaN();
    x = Tensor::from_vector<float>(v, shape);
    for (ReduceOp op : {ReduceOp::max, ReduceOp::min, ReduceOp::amax, ReduceOp::sum}) {
      Tensor want = Tensor::empty({shape[0], 1}),
             got = Tensor::empty({shape[0], 1}, DType::f32, gpu0());
      cpu::reduce(op, x.view(), want.view());
      cuda::reduce(op, x.cuda().view(), got.view());
      const std::vector<double> g = testing::host_f64(got);
      EXPECT_TRUE(std::isnan(g[2])) << "op " << int(op);
      EXPECT_FALSE(std::isnan(g[1])) << "op " << int(op);
      if (op != ReduceOp::sum) {
        EXPECT_TRUE(all_equal(got, want)) << "op " << int(op);
      }
    }
  }
}

TEST(CudaReduce, FunctionalSumAndAmaxRunOnTheDevice) {
  OCTET_REQUIRE_GPU();
  Generator gen(17);
  Tensor x = Tensor::randn({9, 31, 8}, gen);
  Tensor xd = x.cuda();
  Tensor s = sum(xd, {1}, true);
  EXPECT_EQ(s.device(), gpu0());
  EXPECT_TRUE(sums_close(s, sum(x, {1}, true), x));
  EXPECT_EQ(sum(xd, {0, 2}).shape(), (Shape{31}));
  EXPECT_TRUE(all_equal(amax_abs(xd), amax_abs(x)));
  EXPECT_TRUE(all_close(sum_to(xd, {31, 1}), sum_to(x, {31, 1}), tol_for(DType::f32)));
}

TEST(CudaReduce, ArgmaxFindsTheFirstMaximumAsTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(18);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t n : {1, 7, 100, 5000}) {
    // Small integers: many ties, so "first maximum" is tested.
    Tensor x = (Tensor::randn({13, n}, gen) * 2).to(DType::i32).to(DType::f32);
    std::vector<float> v = x.to_vector<float>();
    v[3 * n] = nan;                       // a row starting with NaN answers 0
    if (n > 1) v[5 * n + n / 2] = nan;    // NaN later in a row is skipped
    if (n > 2) v[7 * n + n - 1] = 1e30f;  // the maximum in the last place
    x = Tensor::from_vector<float>(v, {13, n});
    for (DType t : kFloatTypes) {
      Tensor xt = x.to(t);
      EXPECT_TRUE(all_equal(argmax(xt.cuda()), argmax(xt))) << "n " << n << " " << dtype_name(t);
    }
  }
  // A non-contiguous input goes through contiguous() first.
  Tensor y = Tensor::randn({6, 40}, gen);
  EXPECT_TRUE(all_equal(argmax(y.cuda().transpose(0, 1)), argmax(y.transpose(0, 1))));
}

}  // namespace
}  // namespace octet
