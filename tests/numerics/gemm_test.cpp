// octet::cpu::matmul against a naive double-precision reference over many shapes and layouts.
#include "ops/cpu/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "framework/random.h"
#include "ops/dtype.h"
#include "ops/error.h"

namespace octet {
namespace {

// How one operand sits in memory. transposed: each matrix is stored column-major (a W^T view).
// pad: extra elements per leading dimension. interleaved: batches are interleaved inside rows
// (like attention heads viewed out of [T, H, D]), so the batch stride is smaller than a matrix.
// broadcast_stride: a batch stride of 0 (one matrix repeated over the batch). overlapping: a
// batch stride of 1, so consecutive matrices share storage (a sliding window, read-only).
struct Layout {
  bool transposed = false;
  int64_t pad = 0;
  bool interleaved = false;
  bool broadcast_stride = false;
  bool overlapping = false;
};

// Storage plus its values as doubles, so the reference multiplies exactly what the kernel sees.
struct Operand {
  std::vector<double> values;
  std::vector<double> f64;
  std::vector<float> f32;
  std::vector<uint16_t> bf16;
  View view;
  int64_t sb = 0, sr = 0, sc = 0;

  // Logical element [n, r, c]; a 2-D or batch-1 operand is the same matrix for every n.
  double at(int64_t n, int64_t r, int64_t c) const {
    const bool batched = view.dim() == 3 && view.shape[0] > 1;
    return values[static_cast<size_t>((batched ? n * sb : 0) + r * sr + c * sc)];
  }
};

// batch == 0 makes a 2-D view.
Operand make_operand(DType dtype, int64_t batch, int64_t rows, int64_t cols, Layout layout,
                     Generator& gen) {
  Operand op;
  const int64_t nb = std::max<int64_t>(batch, 1);
  const int64_t ld = (layout.transposed ? rows : cols) + layout.pad;
  const int64_t outer = layout.transposed ? cols : rows;
  int64_t outer_stride = ld, size = 0;
  if (layout.broadcast_stride) {
    op.sb = 0;
    size = outer * ld;
  } else if (layout.overlapping) {
    op.sb = 1;
    size = outer * ld + nb;
  } else if (layout.interleaved) {
    op.sb = ld;
    outer_stride = nb * ld;
    size = outer * nb * ld;
  } else {
    op.sb = outer * ld;
    size = nb * outer * ld;
  }
  op.sr = layout.transposed ? 1 : outer_stride;
  op.sc = layout.transposed ? outer_stride : 1;
  op.values.resize(static_cast<size_t>(size));
  for (double& v : op.values) {
    const double x = 2.0 * gen.uniform() - 1.0;
    const float x32 = static_cast<float>(x);
    v = dtype == DType::f64 ? x : dtype == DType::f32 ? x32 : bf16_to_f32(f32_to_bf16(x32));
  }
  void* data = nullptr;
  if (dtype == DType::f64) {
    op.f64 = op.values;
    data = op.f64.data();
  } else if (dtype == DType::f32) {
    op.f32.assign(op.values.begin(), op.values.end());
    data = op.f32.data();
  } else {
    for (double v : op.values) op.bf16.push_back(f32_to_bf16(static_cast<float>(v)));
    data = op.bf16.data();
  }
  op.view.data = data;
  op.view.dtype = dtype;
  op.view.shape = batch > 0 ? Shape{batch, rows, cols} : Shape{rows, cols};
  op.view.strides = batch > 0 ? Shape{op.sb, op.sr, op.sc} : Shape{op.sr, op.sc};
  return op;
}

// The storage back as doubles (the output is read after the kernel wrote it).
std::vector<double> read_back(const Operand& op) {
  if (op.view.dtype == DType::f64) return op.f64;
  return std::vector<double>(op.f32.begin(), op.f32.end());
}

Layout layout(bool transposed, int64_t pad = 0, bool interleaved = false,
              bool broadcast_stride = false, bool overlapping = false) {
  Layout l;
  l.overlapping = overlapping;
  l.transposed = transposed;
  l.pad = pad;
  l.interleaved = interleaved;
  l.broadcast_stride = broadcast_stride;
  return l;
}

struct Case {
  int64_t batch_a = 0, batch_b = 0, batch_c = 0;  // 0 = 2-D
  int64_t M = 1, N = 1, K = 1;
  Layout la, lb, lc;
  bool bias = false, accumulate = false;

  Case& batches(int64_t a, int64_t b, int64_t c) {
    batch_a = a, batch_b = b, batch_c = c;
    return *this;
  }
  Case& layouts(Layout a, Layout b, Layout c = {}) {
    la = a, lb = b, lc = c;
    return *this;
  }
  Case& with_bias() {
    bias = true;
    return *this;
  }
  Case& accumulating() {
    accumulate = true;
    return *this;
  }
};

Case mnk(int64_t M, int64_t N, int64_t K) {
  Case c;
  c.M = M, c.N = N, c.K = K;
  return c;
}

std::string describe(const Case& c, DType in) {
  return detail::concat(dtype_name(in), " batch ", c.batch_a, "/", c.batch_b, "/", c.batch_c, " M",
                        c.M, " N", c.N, " K", c.K, " aT", c.la.transposed, " bT", c.lb.transposed,
                        " pad", c.la.pad, c.lb.pad, c.lc.pad, " interleaved", c.la.interleaved,
                        c.lb.interleaved, c.lc.interleaved, " bias", c.bias, " acc", c.accumulate);
}

double tolerance(DType in) { return in == DType::f64 ? 1e-12 : in == DType::bf16 ? 1e-4 : 1e-5; }

// Runs one case and checks every output element against the double reference, relative to the
// sum of absolute terms (the natural scale of rounding error), and that padding is untouched.
void check_case(const Case& cs, DType in, uint64_t seed) {
  SCOPED_TRACE(describe(cs, in));
  Generator gen(seed);
  const DType out = in == DType::f64 ? DType::f64 : DType::f32;
  Operand a = make_operand(in, cs.batch_a, cs.M, cs.K, cs.la, gen);
  Operand b = make_operand(in, cs.batch_b, cs.K, cs.N, cs.lb, gen);
  Operand c = make_operand(out, cs.batch_c, cs.M, cs.N, cs.lc, gen);
  Operand bias = make_operand(out, 0, 1, cs.N, {}, gen);
  bias.view.shape = {cs.N};
  bias.view.strides = {1};
  const std::vector<double> before = c.values;

  cpu::matmul(a.view, b.view, c.view, cs.bias ? &bias.view : nullptr, cs.accumulate);

  const std::vector<double> after = read_back(c);
  std::vector<bool> covered(after.size(), false);
  const int64_t batch = std::max<int64_t>(cs.batch_c, 1);
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t i = 0; i < cs.M; ++i) {
      for (int64_t j = 0; j < cs.N; ++j) {
        double sum = 0, scale = 0;
        for (int64_t k = 0; k < cs.K; ++k) {
          sum += a.at(n, i, k) * b.at(n, k, j);
          scale += std::abs(a.at(n, i, k) * b.at(n, k, j));
        }
        if (cs.bias) sum += bias.values[j], scale += std::abs(bias.values[j]);
        const size_t index = static_cast<size_t>(n * c.sb + i * c.sr + j * c.sc);
        if (cs.accumulate) sum += before[index], scale += std::abs(before[index]);
        covered[index] = true;
        ASSERT_NEAR(after[index], sum, tolerance(in) * scale + 1e-300)
            << "at [" << n << ", " << i << ", " << j << "]";
      }
    }
  }
  for (size_t i = 0; i < after.size(); ++i) {
    if (covered[i]) continue;
    ASSERT_EQ(after[i], before[i]) << "padding element " << i << " was written";
  }
}

const DType kDtypes[] = {DType::f32, DType::bf16, DType::f64};

std::vector<Case> fixed_cases() {
  const Layout plain = layout(false), transposed = layout(true);
  return {
      mnk(1, 1, 1),
      mnk(7, 13, 5),
      mnk(1, 13, 7),
      mnk(13, 1, 7),
      mnk(5, 7, 1),
      mnk(7, 13, 5).layouts(transposed, plain),
      mnk(7, 13, 5).layouts(plain, transposed),
      mnk(7, 13, 5).layouts(transposed, transposed),
      mnk(7, 13, 5).layouts(layout(false, 3), layout(false, 2), layout(false, 4)),
      mnk(7, 13, 5).layouts(layout(true, 1), layout(true, 3)),
      mnk(7, 13, 5).with_bias(),
      mnk(7, 13, 5).accumulating(),
      mnk(7, 13, 5).layouts(plain, transposed).with_bias().accumulating(),
      mnk(7, 13, 5).batches(3, 3, 3),
      mnk(7, 13, 5).batches(3, 1, 3).with_bias(),
      mnk(7, 13, 5).batches(3, 0, 3).accumulating(),
      mnk(7, 13, 5).batches(1, 3, 3),
      mnk(7, 13, 5).batches(3, 3, 3).layouts(plain, layout(false, 0, false, true)),
      mnk(7, 13, 5)
          .batches(3, 3, 3)
          .layouts(layout(true, 0, false, true), layout(false, 0, false, true))
          .accumulating(),
      mnk(7, 13, 5).batches(3, 3, 3).layouts(transposed, transposed).with_bias().accumulating(),
      // Attention-style head views: the batch stride is smaller than one matrix.
      mnk(7, 13, 5)
          .batches(3, 3, 3)
          .layouts(layout(false, 0, true), layout(true, 0, true), layout(false, 0, true))
          .with_bias(),
      mnk(7, 13, 5).batches(1, 1, 1),
      mnk(7, 13, 5)
          .batches(3, 3, 3)
          .layouts(layout(false, 0, false, false, true), layout(true, 0, false, false, true))
          .with_bias(),
      mnk(7, 300, 70).with_bias().accumulating(),
      mnk(96, 130, 257).layouts(plain, transposed).with_bias(),
      mnk(64, 72, 200).batches(4, 4, 4).accumulating(),
      mnk(7, 13, 0).with_bias().accumulating(),
      mnk(7, 13, 0),
      mnk(0, 13, 5),
  };
}

TEST(Gemm, FixedShapesMatchReference) {
  uint64_t seed = 1;
  for (const Case& c : fixed_cases()) {
    for (DType in : kDtypes) check_case(c, in, seed++);
  }
}

TEST(Gemm, RandomShapesMatchReference) {
  Generator gen(42);
  const int64_t dims[] = {1, 2, 3, 5, 7, 13, 17, 31, 33, 64};
  auto pick = [&] { return dims[gen.below(std::size(dims))]; };
  auto random_layout = [&](bool may_interleave) {
    const bool transposed = gen.below(2) == 1;
    const auto pad = static_cast<int64_t>(gen.below(3));
    return layout(transposed, pad, may_interleave && gen.below(3) == 0);
  };
  for (int trial = 0; trial < 60; ++trial) {
    Case c;
    c.M = pick(), c.N = pick(), c.K = pick();
    const int64_t batch = gen.below(2) ? 1 + static_cast<int64_t>(gen.below(4)) : 0;
    c.batch_a = c.batch_c = batch;
    c.batch_b = batch > 0 && gen.below(3) == 0 ? static_cast<int64_t>(gen.below(2)) : batch;
    c.la = random_layout(batch > 0);
    c.lb = random_layout(batch > 0 && c.batch_b == batch);
    c.lc = layout(false, static_cast<int64_t>(gen.below(3)));
    c.bias = gen.below(2) == 1;
    c.accumulate = gen.below(2) == 1;
    for (DType in : kDtypes) check_case(c, in, 1000 + trial);
  }
}

TEST(Gemm, F64AcceptsAnyStrides) {
  // a [3, 4] read with column stride 2, b [4, 5] with no unit stride, c with column stride 3.
  std::vector<double> a(3 * 8), b(4 * 10 + 10), c(3 * 15, -7.0);
  for (size_t i = 0; i < a.size(); ++i) a[i] = 0.25 * static_cast<double>(i % 11) - 1;
  for (size_t i = 0; i < b.size(); ++i) b[i] = 0.5 * static_cast<double>(i % 7) - 1.5;
  View va{a.data(), DType::f64, {}, {3, 4}, {8, 2}};
  View vb{b.data(), DType::f64, {}, {4, 5}, {2, 9}};
  View vc{c.data(), DType::f64, {}, {3, 5}, {15, 3}};
  cpu::matmul(va, vb, vc, nullptr, /*accumulate=*/true);
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t j = 0; j < 5; ++j) {
      double ref = -7.0;
      for (int64_t k = 0; k < 4; ++k) ref += a[i * 8 + k * 2] * b[k * 2 + j * 9];
      EXPECT_NEAR(c[i * 15 + j * 3], ref, 1e-12);
    }
  }
  EXPECT_EQ(c[1], -7.0);  // between the strided outputs
}

TEST(Gemm, SizeOneDimsIgnoreTheirStrides) {
  // A row vector read with element stride 3 (a column of a wider matrix) times a column vector
  // whose size-1 dims carry arbitrary strides, into a 1x1 output with stride-0 dims.
  std::vector<float> a(3 * 5), b(5), c(1, 100.f);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i) - 2.f;
  View va{a.data(), DType::f32, {}, {1, 5}, {0, 3}};
  View vb{b.data(), DType::f32, {}, {5, 1}, {1, 7}};
  View vc{c.data(), DType::f32, {}, {1, 1}, {0, 0}};
  cpu::matmul(va, vb, vc, nullptr, /*accumulate=*/true);
  float ref = 100.f;
  for (int k = 0; k < 5; ++k) ref += a[k * 3] * b[k];
  EXPECT_EQ(c[0], ref);
}

TEST(Gemm, RepeatedShapeReusesItsPlan) {
  std::vector<float> a(8 * 16, 1.f), b(16 * 4, 2.f), c(8 * 4);
  View va{a.data(), DType::f32, {}, {8, 16}, {16, 1}};
  View vb{b.data(), DType::f32, {}, {16, 4}, {4, 1}};
  View vc{c.data(), DType::f32, {}, {8, 4}, {4, 1}};
  cpu::matmul(va, vb, vc);
  const size_t plans = cpu::matmul_cache_size();
  for (int i = 0; i < 5; ++i) cpu::matmul(va, vb, vc);
  EXPECT_EQ(cpu::matmul_cache_size(), plans);
  EXPECT_EQ(c[0], 32.f);
  cpu::matmul(va, vb, vc, nullptr, /*accumulate=*/true);
  EXPECT_EQ(cpu::matmul_cache_size(), plans + 1);
  EXPECT_EQ(c[0], 64.f);
}

TEST(Gemm, ThreadCountIsHonouredAndResultsAgree) {
  const int original = cpu::num_threads();
  const Case c = mnk(64, 96, 128).layouts(layout(false), layout(true));
  cpu::set_num_threads(1);
  EXPECT_EQ(cpu::num_threads(), 1);
  for (DType in : kDtypes) check_case(c, in, 7);
  cpu::set_num_threads(2);
  EXPECT_EQ(cpu::num_threads(), 2);
  for (DType in : kDtypes) check_case(c, in, 7);
  cpu::set_num_threads(original);
}

// Expects an octet::Error from the matmul op whose message contains `fragment`.
void expect_error(const std::function<void()>& call, const std::string& fragment) {
  try {
    call();
    ADD_FAILURE() << "no error; expected one containing: " << fragment;
  } catch (const Error& e) {
    EXPECT_EQ(e.op(), "matmul");
    EXPECT_NE(std::string(e.what()).find("[matmul]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Gemm, InvalidInputsThrowWithClearMessages) {
  std::vector<float> f(64);
  std::vector<uint16_t> h(64);
  std::vector<int8_t> q(64);
  auto view = [](void* data, DType t, Shape shape, Shape strides) {
    return View{data, t, {}, std::move(shape), std::move(strides)};
  };
  const View a23 = view(f.data(), DType::f32, {2, 3}, {3, 1});
  const View b45 = view(f.data(), DType::f32, {4, 5}, {5, 1});
  const View b34 = view(f.data(), DType::f32, {3, 4}, {4, 1});
  const View c24 = view(f.data(), DType::f32, {2, 4}, {4, 1});
  expect_error([&] { cpu::matmul(a23, b45, c24); },
               "inner dimensions differ: a [2, 3] vs b [4, 5]");
  expect_error(
      [&] {
        cpu::matmul(a23, view(h.data(), DType::bf16, {3, 4}, {4, 1}), c24);
      },
      "dtype mismatch: a f32 vs b bf16");
  const View q23 = view(q.data(), DType::i8, {2, 3}, {3, 1});
  expect_error(
      [&] {
        cpu::matmul(q23, view(q.data(), DType::i8, {3, 4}, {4, 1}), c24);
      },
      "unsupported dtypes");
  expect_error(
      [&] {
        cpu::matmul(a23, b34, view(f.data(), DType::f32, {2, 5}, {5, 1}));
      },
      "output c [2, 5] does not match a [2, 3] @ b [3, 4]: expected [2, 4]");
  expect_error(
      [&] {
        cpu::matmul(view(f.data(), DType::f32, {2, 2, 3}, {6, 3, 1}),
                    view(f.data(), DType::f32, {3, 3, 4}, {12, 4, 1}), c24);
      },
      "batch sizes differ: a [2, 2, 3] vs b [3, 3, 4]");
  expect_error(
      [&] {
        cpu::matmul(view(f.data(), DType::f32, {2, 3}, {6, 2}), b34, c24);
      },
      "make it contiguous");
  expect_error(
      [&] {
        cpu::matmul(a23, b34, view(f.data(), DType::f32, {2, 4}, {8, 2}));
      },
      "unit column stride");
  const View bias5 = view(f.data(), DType::f32, {5}, {1});
  expect_error([&] { cpu::matmul(a23, b34, c24, &bias5); }, "bias must be a contiguous");
  expect_error([&] { cpu::matmul(view(f.data(), DType::f32, {3}, {1}), b34, c24); },
               "a must be 2-D or 3-D");
  EXPECT_THROW(cpu::set_num_threads(0), Error);
}

}  // namespace
}  // namespace octet
