// runtime::CudaLinear against the CPU's LinearOp::forward, both made from the same exported
// .qmodel layer, on fresh random inputs. A tiny GPT (d 64: qkv 64->192, proj 64->64, fc 64->256,
// proj 256->64, all with bias) is prepared with a scheme, calibrated and exported; every layer
// runs on both devices.
//
// - int8 (w8a8 static per tensor, w8a8_dyn per token, dynamic per tensor): bit for bit. Both
//   sides quantize with the same scales (stored, or from the CPU's own rule on the same ranges)
//   to the same codes, sum them exactly in int32 and apply one epilogue,
//   float(acc) * (a_scale * w_scale) + bias, which GCC contracts into an FMA on the CPU (checked
//   in the disassembly: vfmadd213ps under -march=native) and the GPU computes with __fmaf_rn. A
//   build without FMA instructions rounds the product first: one rounding apart then, at most
//   2^-22 (|y| + |bias|).
// - fp8 (fp8_e4m3, stored and dynamic input scales): same codes; Hopper's FP8 tensor cores keep
//   about 14 bits between promotions to f32, so within 2^-12 max|y| sqrt(k), max over each row.
// - f32 (the exported lm_head): FP32 sums on both sides, within (k + 2) 2^-23 sum|x w|; with
//   bf16 operands, each product is also off by at most 2^-7 (1 + 2^-9) |x w|.
// - kinds the GPU does not run, and misaligned in_features, are clear errors.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "framework/models/gpt.h"
#include "framework/random.h"
#include "framework/tensor/tensor.h"
#include "ops/cuda/qgemm.h"
#include "qat/export.h"
#include "qat/prepare.h"
#include "qat/schemes.h"
#include "runtime/cuda_linear.h"
#include "runtime/linear_op.h"
#include "runtime/model_file.h"
#include "tests/support/gpu_util.h"

namespace octet {
namespace {

using quant::QuantSpec;
using quant::ScaleSource;
using runtime::CudaLinear;
using runtime::LinearKind;
using runtime::LinearOp;
using runtime::ModelFile;
using testing::gpu0;

class CudaRuntimeLinear : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/octet_cuda_runtime_linear.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // The tiny GPT prepared with `layers`, calibrated on random tokens, exported; opened.
  ModelFile export_gpt(const std::string& name, const qat::LayerQuantConfig& layers) {
    models::GptConfig c;
    c.vocab = 256;
    c.block = 16;
    c.layers = 1;
    c.heads = 2;
    c.dim = 64;
    Generator gen(5);
    models::Gpt gpt(c, gen);
    qat::QatConfig config;
    config.layers = layers;
    qat::prepare(gpt, config);
    std::vector<Tensor> batches;
    for (int b = 0; b < 2; ++b) {
      std::vector<int64_t> t(2 * 16);
      for (int64_t& v : t) v = static_cast<int64_t>(gen.below(256));
      batches.push_back(Tensor::from_vector(t, {2, 16}));
    }
    qat::calibrate(gpt, 2, [&](int64_t i) { gpt.forward(batches[i], gen); });
    const std::string path = dir_ + "/" + name + ".qmodel";
    qat::export_qmodel(gpt, qat::describe_model(gpt), path);
    return ModelFile::open(path);
  }

  std::string dir_;
};

// Every quantized layer of the file, loaded for the CPU.
std::vector<LinearOp> quantized_layers(const ModelFile& f) {
  std::vector<LinearOp> ops;
  for (const proto::Layer& l : f.header().layers())
    ops.push_back(LinearOp::load(f, l.name(), {l.out_features(), l.in_features()}, l.has_bias()));
  return ops;
}

// x [m, k]: N(0, 1) rows at scales from 1e-3 to 30 (so static scales clip some), one row of zeros.
std::vector<float> random_rows(Generator& gen, int64_t m, int64_t k) {
  std::vector<float> x(static_cast<size_t>(m * k));
  for (int64_t i = 0; i < m; ++i) {
    const double row_scale = i == 1 ? 0.0 : std::pow(10.0, -3.0 + 4.5 * gen.uniform());
    for (int64_t j = 0; j < k; ++j) x[i * k + j] = static_cast<float>(gen.normal() * row_scale);
  }
  return x;
}

struct Outputs {
  std::vector<float> cpu, gpu;
};

// The layer on the CPU and its CudaLinear on the GPU, on the same x [m, in].
Outputs run_both(const LinearOp& op, const CudaLinear& dev, const std::vector<float>& x,
                 int64_t m) {
  const int64_t in = op.in_features(), out = op.out_features();
  Outputs o;
  o.cpu.resize(static_cast<size_t>(m * out));
  op.forward(x.data(), m, o.cpu.data());
  const Tensor xd = Tensor::from_vector(x, {m, in}).cuda();
  const Tensor yd =
      Tensor::full({m, out}, std::numeric_limits<float>::quiet_NaN(), DType::f32, gpu0());
  dev.forward(static_cast<const float*>(xd.view().data), m, static_cast<float*>(yd.view().data));
  o.gpu = yd.cpu().to_vector<float>();
  return o;
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::abs(x)));
  return m;
}

// The int8 contract above: identical bits (one rounding apart without FMA instructions).
void expect_int8_match(const LinearOp& op, const Outputs& o, int64_t m) {
  ASSERT_EQ(o.cpu.size(), o.gpu.size());
#if defined(__FMA__)
  size_t differ = 0, first = 0;
  for (size_t i = 0; i < o.cpu.size(); ++i) {
    if (std::memcmp(&o.cpu[i], &o.gpu[i], sizeof(float)) != 0 && differ++ == 0) first = i;
  }
  EXPECT_EQ(differ, 0u) << op.describe() << " m " << m << ": first at " << first << ": cpu "
                        << o.cpu[first] << " gpu " << o.gpu[first];
#else
  const LinearOp::Parts p = op.parts();
  const double b = p.bias ? max_abs(std::vector<float>(p.bias, p.bias + p.out)) : 0.0;
  for (size_t i = 0; i < o.cpu.size(); ++i)
    ASSERT_NEAR(o.gpu[i], o.cpu[i], std::ldexp(std::abs(o.cpu[i]) + b, -22))
        << op.describe() << " m " << m << " at " << i;
#endif
}

void check_int8_scheme(const ModelFile& f, bool static_scale, uint64_t seed) {
  Generator gen(seed);
  for (const LinearOp& op : quantized_layers(f)) {
    SCOPED_TRACE(op.describe());
    ASSERT_EQ(op.kind(), LinearKind::kInt8);
    EXPECT_EQ(op.parts().input_scales.size(), static_scale ? 1u : 0u);
    const CudaLinear dev(op);
    EXPECT_EQ(dev.kind(), LinearKind::kInt8);
    EXPECT_NE(dev.describe().find("int8 GEMM on cuda:0"), std::string::npos) << dev.describe();
    for (int64_t m : {1, 2, 37, 256}) {
      const std::vector<float> x = random_rows(gen, m, op.in_features());
      expect_int8_match(op, run_both(op, dev, x, m), m);
    }
  }
}

TEST_F(CudaRuntimeLinear, Int8StaticPerTensorMatchesTheCpuBitForBit) {
  OCTET_REQUIRE_GPU();
  check_int8_scheme(export_gpt("w8a8", qat::scheme_config("w8a8")), true, 1);
}

TEST_F(CudaRuntimeLinear, Int8DynamicPerTokenMatchesTheCpuBitForBit) {
  OCTET_REQUIRE_GPU();
  check_int8_scheme(export_gpt("w8a8_dyn", qat::scheme_config("w8a8_dyn")), false, 2);
}

TEST_F(CudaRuntimeLinear, Int8DynamicPerTensorMatchesTheCpuBitForBit) {
  OCTET_REQUIRE_GPU();
  qat::LayerQuantConfig c = qat::scheme_config("w8a8");
  c.input.spec = QuantSpec::int8_symmetric().with_source(ScaleSource::kCurrent);
  check_int8_scheme(export_gpt("w8a8_dyn_tensor", c), false, 3);
}

TEST_F(CudaRuntimeLinear, Int8NonFiniteInputIsAnErrorOnBothDevices) {
  OCTET_REQUIRE_GPU();
  const ModelFile f = export_gpt("w8a8_dyn", qat::scheme_config("w8a8_dyn"));
  const LinearOp op = quantized_layers(f).front();
  const CudaLinear dev(op);
  Generator gen(4);
  std::vector<float> x = random_rows(gen, 3, op.in_features());
  x[op.in_features() + 5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(run_both(op, dev, x, 3), Error);  // the CPU throws first
  EXPECT_THROW(
      {
        const Tensor xd = Tensor::from_vector(x, {3, op.in_features()}).cuda();
        const Tensor yd = Tensor::empty({3, op.out_features()}, DType::f32, gpu0());
        dev.forward(static_cast<const float*>(xd.view().data), 3,
                    static_cast<float*>(yd.view().data));
      },
      Error);
}

void check_fp8_scheme(const ModelFile& f, bool static_scale, uint64_t seed) {
  Generator gen(seed);
  for (const LinearOp& op : quantized_layers(f)) {
    SCOPED_TRACE(op.describe());
    ASSERT_EQ(op.kind(), LinearKind::kFp8);
    EXPECT_EQ(op.parts().input_scales.size(), static_scale ? 1u : 0u);
    const CudaLinear dev(op);
    const double k = static_cast<double>(op.in_features());
    for (int64_t m : {1, 37, 256}) {
      const std::vector<float> x = random_rows(gen, m, op.in_features());
      const Outputs o = run_both(op, dev, x, m);
      EXPECT_GT(max_abs(o.cpu), 0.0);
      // Rows are independent sums whose sizes differ by 10^4 here: each is held to its own size.
      const int64_t n = op.out_features();
      for (int64_t i = 0; i < m; ++i) {
        const std::vector<float> row(o.cpu.begin() + i * n, o.cpu.begin() + (i + 1) * n);
        const double tol = std::ldexp(max_abs(row), -12) * std::sqrt(k);
        for (int64_t j = 0; j < n; ++j)
          ASSERT_NEAR(o.gpu[i * n + j], o.cpu[i * n + j], tol)
              << "m " << m << " at " << i << ", " << j;
      }
    }
  }
}

TEST_F(CudaRuntimeLinear, Fp8E4m3MatchesTheCpu) {
  OCTET_REQUIRE_GPU();
  if (!cuda::has_fp8(0)) GTEST_SKIP() << "FP8 needs compute capability 8.9+";
  check_fp8_scheme(export_gpt("fp8", qat::scheme_config("fp8_e4m3")), true, 5);
}

TEST_F(CudaRuntimeLinear, Fp8DynamicInputScaleMatchesTheCpu) {
  OCTET_REQUIRE_GPU();
  if (!cuda::has_fp8(0)) GTEST_SKIP() << "FP8 needs compute capability 8.9+";
  qat::LayerQuantConfig c = qat::scheme_config("fp8_e4m3");
  c.input.spec = QuantSpec::fp8_e4m3().with_source(ScaleSource::kCurrent);
  check_fp8_scheme(export_gpt("fp8_dyn", c), false, 6);
}

TEST_F(CudaRuntimeLinear, F32AndBf16LayersMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  const ModelFile f = export_gpt("w8a8", qat::scheme_config("w8a8"));
  const LinearOp op = LinearOp::load(f, "lm_head", {256, 64}, false);  // skipped: f32
  ASSERT_EQ(op.kind(), LinearKind::kF32);
  const LinearOp::Parts p = op.parts();
  Generator gen(7);
  const int64_t m = 37, k = p.in;
  const std::vector<float> x = random_rows(gen, m, k);
  for (bool bf16 : {false, true}) {
    SCOPED_TRACE(bf16 ? "bf16" : "f32");
    const CudaLinear dev(op, {0, bf16});
    const Outputs o = run_both(op, dev, x, m);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < p.out; ++j) {
        double s = 0;  // sum |x w| + |b|
        for (int64_t t = 0; t < k; ++t) s += std::abs(double(x[i * k + t]) * p.weight[j * k + t]);
        const double tol = (k + 2) * std::ldexp(s, -23) + (bf16 ? std::ldexp(s, -7) * 1.002 : 0);
        ASSERT_NEAR(o.gpu[i * p.out + j], o.cpu[i * p.out + j], tol) << i << ", " << j;
      }
    }
  }
}

// The error's text must contain `want`.
template <typename F>
void expect_error(F&& make, const std::string& want) {
  try {
    make();
    FAIL() << "expected an error containing: " << want;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
  }
}

TEST_F(CudaRuntimeLinear, KindsNotOnTheGpuAreAClearError) {
  OCTET_REQUIRE_GPU();
  qat::LayerQuantConfig weight_only = qat::scheme_config("w8a8");
  weight_only.quantize_input = false;
  const ModelFile f = export_gpt("weight_only", weight_only);
  const LinearOp op = quantized_layers(f).front();
  ASSERT_EQ(op.kind(), LinearKind::kWeightOnly);
  expect_error([&] { CudaLinear{op}; }, "[cuda_linear] layer '" + op.parts().name +
                                            "': weight-only int8 layers are not on the GPU yet");

  LinearOp::Parts p;
  p.name = "x";
  p.in = 16;
  p.out = 8;
  for (LinearKind kind : {LinearKind::kLlmInt8, LinearKind::kEmulated}) {
    p.kind = kind;
    expect_error([&] { CudaLinear{p}; }, std::string("layer 'x': ") +
                                             runtime::linear_kind_name(kind) +
                                             " layers are not on the GPU yet");
  }
  // An int8 layer whose input has a zero point: the CPU compensates it, IMMA's s8 GEMM cannot.
  const std::vector<int8_t> codes(16 * 8, 1);
  p.kind = LinearKind::kInt8;
  p.weight_codes = codes.data();
  p.weight_spec = QuantSpec::int8_symmetric();
  p.weight_scales = {0.5f};
  p.input_quantized = true;
  p.input_spec = QuantSpec::uint8_affine();
  p.input_scales = {0.1f};
  expect_error([&] { CudaLinear{p}; }, "(zero point or unsigned codes) are not on the GPU yet");
}

TEST_F(CudaRuntimeLinear, MisalignedInFeaturesAreAClearError) {
  OCTET_REQUIRE_GPU();
  const std::vector<uint8_t> codes(24 * 8, 0x38);
  LinearOp::Parts p;
  p.name = "odd";
  p.kind = LinearKind::kInt8;
  p.in = 6;
  p.out = 8;
  p.weight_codes = codes.data();
  p.weight_spec = QuantSpec::int8_symmetric();
  p.weight_scales = {0.5f};
  p.input_quantized = true;
  p.input_spec = QuantSpec::int8_symmetric();
  p.input_scales = {0.1f};
  expect_error([&] { CudaLinear{p}; },
               "layer 'odd': in_features = 6 is not a multiple of 4 (cuBLASLt's IMMA rule");
  p.kind = LinearKind::kFp8;
  p.in = 24;
  p.weight_spec = QuantSpec::fp8_e4m3();
  p.input_spec = QuantSpec::fp8_e4m3();
  expect_error([&] { CudaLinear{p}; },
               "layer 'odd': in_features = 24 is not a multiple of 16 (cuBLASLt's FP8 rule");
}

}  // namespace
}  // namespace octet
