// The CUDA convolution and max-pooling kernels against their CPU twins: conv2d forward and its
// three gradients with and without bias over strides, paddings and non-square kernels (f32, f64),
// im2col and col2im bit-for-bit, and max pooling with ties and NaNs (the same arg-max as the CPU)
// for overlapping and disjoint windows.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "framework/functional/conv.h"
#include "ops/cpu/conv.h"
#include "ops/cpu/pool.h"
#include "ops/cuda/conv.h"
#include "ops/cuda/pool.h"
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

struct ConvCase {
  int64_t N, C, H, W, O, KH, KW, stride, padding;
  bool bias;
  // A stream, not operator+ chains: GCC 12 warns falsely (-Wrestrict) about those.
  std::string str() const {
    std::ostringstream os;
    os << "N" << N << " C" << C << " " << H << "x" << W << " O" << O << " k" << KH << "x" << KW
       << " s" << stride << " p" << padding << (bias ? " bias" : "");
    return os.str();
  }
};

const ConvCase kConvCases[] = {
    {3, 2, 9, 7, 4, 3, 3, 1, 1, true},   {2, 3, 10, 10, 5, 3, 3, 2, 0, true},
    {2, 1, 8, 11, 3, 5, 3, 2, 2, false}, {1, 4, 6, 6, 2, 1, 1, 1, 0, true},
    {4, 3, 7, 5, 6, 2, 4, 3, 1, false},  {5, 8, 14, 14, 16, 3, 3, 1, 1, true},
};

TEST(CudaConv, Conv2dForwardAndBackwardMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  for (DType t : {DType::f32, DType::f64}) {
    for (const ConvCase& k : kConvCases) {
      Both x = leaves(random({k.N, k.C, k.H, k.W}, 1, t));
      Both w = leaves(random({k.O, k.C, k.KH, k.KW}, 2, t));
      Both b = leaves(random({k.O}, 3, t));
      Tensor bh = k.bias ? b.h : Tensor(), bd = k.bias ? b.d : Tensor();
      Tensor yh = conv2d(x.h, w.h, bh, k.stride, k.padding);
      Tensor yd = conv2d(x.d, w.d, bd, k.stride, k.padding);
      const std::string what = std::string(dtype_name(t)) + " " + k.str();
      // The GEMM sums C*KH*KW products in another order than oneDNN's.
      const double rel = t == DType::f64 ? 1e-12 : 2e-5;
      expect_close(yd, yh, rel, what + " forward");
      Both up = constants(random(yh.shape(), 4, t));
      yh.backward(up.h);
      yd.backward(up.d);
      expect_close(x.d.grad(), x.h.grad(), rel, what + " dx");
      expect_close(w.d.grad(), w.h.grad(), rel, what + " dweight");
      if (k.bias) expect_close(b.d.grad(), b.h.grad(), rel, what + " dbias");
    }
  }
}

// The unfold and its adjoint move and add values in the CPU's order: exactly equal.
TEST(CudaConv, Im2colAndCol2imAreExact) {
  OCTET_REQUIRE_GPU();
  for (const ConvCase& k : kConvCases) {
    Both x = constants(random({k.N, k.C, k.H, k.W}, 5, DType::f32));
    Both w = constants(random({k.O, k.C, k.KH, k.KW}, 6, DType::f32));
    const cpu::Conv2dGeometry g = cpu::conv2d_geometry(x.h.view(), w.h.view(), k.stride, k.padding);
    const cpu::Conv2dGeometry gd =
        cuda::conv2d_geometry(x.d.view(), w.d.view(), k.stride, k.padding);
    EXPECT_EQ(gd.output_shape(), g.output_shape());
    const Shape cols_shape{g.patch(), k.N * g.out_pixels()};
    Both cols{Tensor::empty(cols_shape), Tensor::empty(cols_shape, DType::f32, gpu0())};
    cpu::im2col(x.h.view(), g, cols.h.view());
    cuda::im2col(x.d.view(), g, cols.d.view());
    expect_equal(cols.d, cols.h, k.str() + " im2col");
    Both c = constants(random(cols_shape, 7, DType::f32));
    Both dx{Tensor::empty(x.h.shape()), Tensor::empty(x.h.shape(), DType::f32, gpu0())};
    cpu::col2im(c.h.view(), g, dx.h.view());
    cuda::col2im(c.d.view(), g, dx.d.view());
    expect_equal(dx.d, dx.h, k.str() + " col2im");
  }
}

struct PoolCase {
  int64_t kernel, stride;
};

// Values from {0, 1, 2}: most windows hold ties, and the arg-max must be the CPU's first maximum.
TEST(CudaPool, MaxPoolMatchesTheCpuWithTies) {
  OCTET_REQUIRE_GPU();
  for (DType t : {DType::f32, DType::f64}) {
    for (PoolCase pc : {PoolCase{2, 2}, PoolCase{3, 1}, PoolCase{3, 2}, PoolCase{2, 3}}) {
      Generator gen(10 + pc.kernel * 4 + pc.stride);
      std::vector<double> v(3 * 4 * 11 * 9);
      for (double& e : v) e = static_cast<double>(gen.below(3));
      Tensor host = Tensor::from_vector(v, {3, 4, 11, 9}).to(t);
      Both x = leaves(host);
      Tensor yh = max_pool2d(x.h, pc.kernel, pc.stride);
      Tensor yd = max_pool2d(x.d, pc.kernel, pc.stride);
      const std::string what = std::string(dtype_name(t)) + " k" + std::to_string(pc.kernel) +
                               " s" + std::to_string(pc.stride);
      expect_equal(yd, yh, what + " forward");
      Both up = constants(random(yh.shape(), 11, t));
      yh.backward(up.h);
      yd.backward(up.d);
      // Where windows overlap two of them may share an arg-max: added in either order.
      expect_close(x.d.grad(), x.h.grad(), testing::tol(t), what + " backward");
    }
  }
}

TEST(CudaPool, ArgMaxIndicesAndNaNsMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(20);
  Tensor x = Tensor::randn({2, 3, 8, 8}, gen);
  std::vector<float> v = x.to_vector<float>();
  v[5] = std::numeric_limits<float>::quiet_NaN();
  v[70] = std::numeric_limits<float>::quiet_NaN();
  v[71] = v[70];
  x = Tensor::from_vector(v, {2, 3, 8, 8});
  const Shape out_shape = cpu::max_pool2d_output_shape(x.shape(), 3, 2);
  Both y{Tensor::empty(out_shape), Tensor::empty(out_shape, DType::f32, gpu0())};
  Both idx{Tensor::empty(out_shape, DType::i64), Tensor::empty(out_shape, DType::i64, gpu0())};
  Tensor xd = x.to(gpu0());
  cpu::max_pool2d_forward(x.view(), 3, 2, y.h.view(), idx.h.view());
  cuda::max_pool2d_forward(xd.view(), 3, 2, y.d.view(), idx.d.view());
  EXPECT_EQ(idx.d.cpu().to_vector<int64_t>(), idx.h.to_vector<int64_t>());
  const std::vector<float> yh = y.h.to_vector<float>(), yd = y.d.cpu().to_vector<float>();
  for (size_t i = 0; i < yh.size(); ++i) {
    EXPECT_EQ(std::isnan(yd[i]), std::isnan(yh[i])) << i;
    if (!std::isnan(yh[i])) {
      EXPECT_EQ(yd[i], yh[i]) << i;
    }
  }
  // Indices that do not belong to the input are an error, as on the CPU.
  Tensor bad = Tensor::full(out_shape, 64, DType::i64, gpu0());
  Tensor gx = Tensor::empty(x.shape(), DType::f32, gpu0());
  expect_error([&] { cuda::max_pool2d_backward(y.d.view(), bad.view(), gx.view()); },
               "falls outside planes of 64", "bad arg-max");
}

}  // namespace
}  // namespace octet
