#pragma once
// Helpers for the neural-network op tests of the CUDA backend (cuda_nn_test, cuda_nn_conv_test):
// a leaf on both devices, a tolerance per dtype, and a comparison relative to the CPU result's
// size.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "framework/random.h"
#include "framework/tensor/tensor.h"
#include "tests/support/gpu_util.h"

namespace octet::testing {

// The same values as a CPU leaf and a CUDA leaf, both requiring gradients.
struct Both {
  Tensor h, d;
};
inline Both leaves(const Tensor& host) {
  Both b{host.detach().clone(), host.to(gpu0()).detach()};
  b.h.set_requires_grad();
  b.d.set_requires_grad();
  return b;
}

// The same values on both devices, no gradient.
inline Both constants(const Tensor& host) { return {host, host.to(gpu0())}; }

// f32: the CUDA kernels reduce in another order and use libdevice's exp, so they agree to a few
// f32 ulps; f64: to a few f64 ulps.
inline double tol(DType t) { return t == DType::f64 ? 1e-12 : 1e-5; }

inline double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.cpu().to(DType::f64).to_vector<double>()) m = std::max(m, std::abs(v));
  return m;
}

// |gpu - cpu| <= rel * max(1, max |cpu|), with the gpu result on the GPU.
inline void expect_close(const Tensor& gpu, const Tensor& cpu, double rel,
                         const std::string& what) {
  ASSERT_TRUE(gpu.defined() && cpu.defined()) << what;
  EXPECT_EQ(gpu.device(), gpu0()) << what;
  ASSERT_EQ(gpu.shape(), cpu.shape()) << what;
  ASSERT_EQ(gpu.dtype(), cpu.dtype()) << what;
  const double bound = rel * std::max(1.0, max_abs(cpu));
  EXPECT_LE(max_abs_diff(gpu, cpu), bound) << what;
}

inline void expect_equal(const Tensor& gpu, const Tensor& cpu, const std::string& what) {
  ASSERT_EQ(gpu.shape(), cpu.shape()) << what;
  EXPECT_EQ(gpu.device(), gpu0()) << what;
  EXPECT_EQ(max_abs_diff(gpu, cpu), 0.0) << what;
}

inline Tensor random(const Shape& shape, uint64_t seed, DType dtype, double stddev = 1.0) {
  Generator gen(seed);
  return Tensor::randn(shape, gen, dtype, stddev);
}

// i64 values drawn from [lo, hi), with `special` at every `every`-th position when every > 0.
inline Tensor random_indices(const Shape& shape, uint64_t seed, int64_t lo, int64_t hi,
                             int64_t every = 0, int64_t special = 0) {
  Generator gen(seed);
  std::vector<int64_t> v(static_cast<size_t>(numel_of(shape)));
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = lo + static_cast<int64_t>(gen.below(static_cast<uint64_t>(hi - lo)));
    if (every > 0 && i % every == 0) v[i] = special;
  }
  return Tensor::from_vector(v, shape);
}

// Runs the message of the Error `fn` throws through `has`, failing when it throws nothing.
template <typename Fn>
void expect_error(Fn&& fn, const std::string& has, const std::string& what) {
  try {
    fn();
    ADD_FAILURE() << what << ": expected an error containing '" << has << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(has), std::string::npos) << what << ": " << e.what();
  }
}

}  // namespace octet::testing
