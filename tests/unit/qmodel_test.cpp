// The .qmodel round trip: models prepared with every scheme (and LLM.int8()) are exported and
// reopened through runtime::ModelFile; every layer's specs equal its twin's, its codes dequantize
// to the twin's fake-quant weights bit for bit, scales, zero points and biases come back exactly,
// every other parameter is there in f32 (lm_head as a skipped layer), and `octet inspect` prints
// what the file holds.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "framework/io/archive.h"
#include "framework/models/cnn.h"
#include "framework/models/gpt.h"
#include "framework/tensor/autograd.h"
#include "qat/convert.h"
#include "qat/export.h"
#include "qat/fake_quant.h"
#include "qat/llm_int8.h"
#include "qat/outlier_injection.h"
#include "qat/prepare.h"
#include "qat/schemes.h"
#include "runtime/model_file.h"
#include "tools/commands/model_commands.h"

namespace octet {
namespace {

using quant::QuantSpec;
using quant::ScaleSource;
using runtime::ModelFile;

class QModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/octet_qmodel_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
};

Tensor copy_of(const View& v) {
  Tensor t = Tensor::empty(v.shape, v.dtype);
  if (v.numel() > 0) std::memcpy(t.raw_data(), v.data, v.numel() * dtype_size(v.dtype));
  return t;
}

// Bit identity, so -0.0 and 0.0 (or two NaNs) are told apart the way a deployed kernel would.
bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor x = a.contiguous(), y = b.contiguous();
  return x.dtype() == y.dtype() && x.shape() == y.shape() &&
         std::memcmp(x.raw_data(), y.raw_data(), x.numel() * dtype_size(x.dtype())) == 0;
}

Tensor stored(const ModelFile& f, const std::string& name) {
  return copy_of(f.archive().view(name));
}

// The f32 weights a file's codes stand for.
Tensor file_weight(const ModelFile& f, const proto::Layer& l) {
  qat::QuantizedTensor q;
  q.spec = f.weight_spec(l);
  q.codes = stored(f, l.name() + ".weight_codes");
  q.params.scale = stored(f, l.name() + ".weight_scale");
  if (f.has_tensor(l.name() + ".weight_zero_point")) {
    q.params.zero_point = stored(f, l.name() + ".weight_zero_point");
  }
  return qat::dequantize_tensor(q);
}

nn::Module* module_named(nn::Module& root, const std::string& name) {
  for (auto& [n, m] : root.named_modules()) {
    if (n == name) return m;
  }
  return nullptr;
}

// Every quantized layer of `f` against the fake-quant twin of the same name in `model`, then
// every other parameter of the model against its f32 copy.
void expect_twins_round_trip(nn::Module& model, const ModelFile& f) {
  NoGradGuard no_grad;
  ASSERT_GT(f.header().layers_size(), 0);
  std::vector<std::string> quantized;
  for (const proto::Layer& l : f.header().layers()) {
    SCOPED_TRACE(l.name());
    quantized.push_back(l.name());
    auto* twin = dynamic_cast<qat::QuantTwin*>(module_named(model, l.name()));
    ASSERT_NE(twin, nullptr);
    EXPECT_EQ(f.layer(l.name()), &l);
    const Tensor w = model.parameter(l.name() + ".weight");
    const qat::FakeQuantizer& wfq = twin->weight_fake_quant();
    const qat::FakeQuantizer& ifq = twin->input_fake_quant();
    EXPECT_EQ(f.weight_spec(l), wfq.spec());
    EXPECT_EQ(f.input_spec(l), ifq.spec());
    const qat::QParams wp = wfq.qparams(w);
    EXPECT_TRUE(same_bits(file_weight(f, l), qat::fake_quant(w, wfq.spec(), wp)));
    EXPECT_TRUE(same_bits(stored(f, l.name() + ".weight_scale").reshape({-1}),
                          wp.scale.contiguous().reshape({-1})));
    EXPECT_EQ(f.archive().dtype(l.name() + ".weight_codes"), ModelFile::code_dtype(wfq.spec()));
    EXPECT_EQ(f.has_tensor(l.name() + ".weight_zero_point"), wp.zero_point.defined());

    const bool dynamic = ifq.spec().scale_source == ScaleSource::kCurrent;
    EXPECT_EQ(l.input().static_scale(), !dynamic);
    EXPECT_EQ(f.has_tensor(l.name() + ".input_scale"), !dynamic);
    if (!dynamic) {
      const qat::QParams ip = ifq.qparams(Tensor());
      EXPECT_TRUE(same_bits(stored(f, l.name() + ".input_scale").reshape({-1}),
                            ip.scale.contiguous().reshape({-1})));
      EXPECT_EQ(f.has_tensor(l.name() + ".input_zero_point"), ip.zero_point.defined());
      if (ip.zero_point.defined()) {
        EXPECT_EQ(stored(f, l.name() + ".input_zero_point").to_vector<float>(),
                  ip.zero_point.contiguous().to_vector<float>());
      }
    }
    nn::Module* module = module_named(model, l.name());
    const auto* linear = dynamic_cast<const nn::Linear*>(module);
    const auto* conv = dynamic_cast<const nn::Conv2d*>(module);
    const Tensor bias = linear != nullptr ? linear->bias() : conv->bias();
    EXPECT_EQ(l.has_bias(), bias.defined());
    if (bias.defined()) {
      EXPECT_TRUE(
          same_bits(copy_of(f.tensor(l.name() + ".bias", DType::f32, {l.out_features()})), bias));
    }
    if (conv != nullptr) {
      EXPECT_EQ(l.kind(), proto::Layer::CONV2D);
      EXPECT_EQ(l.kernel(), conv->weight().size(2));
      EXPECT_EQ(l.stride(), conv->stride());
      EXPECT_EQ(l.padding(), conv->padding());
    } else {
      EXPECT_EQ(l.kind(), proto::Layer::LINEAR);
    }
  }
  for (const auto& [name, param] : model.named_parameters()) {
    bool part = false;
    for (const std::string& q : quantized) part = part || name.rfind(q + ".", 0) == 0;
    if (part) continue;
    SCOPED_TRACE(name);
    EXPECT_TRUE(same_bits(copy_of(f.tensor(name, DType::f32, param.shape())), param));
  }
}

models::CnnConfig tiny_cnn() { return {4, 8, 16, 10, 0.0}; }

models::GptConfig tiny_lm(int64_t dim = 16) {
  models::GptConfig c;
  c.block = 8;
  c.layers = 1;
  c.heads = 2;
  c.dim = dim;
  return c;
}

void calibrate_cnn(models::Cnn& cnn, Generator& gen) {
  const Tensor images = Tensor::randn({4, 1, 28, 28}, gen);
  qat::calibrate(cnn, 2, [&](int64_t) { cnn.forward(images, gen); });
}

void calibrate_lm(models::LanguageModel& lm, Generator& gen, int64_t batches = 2) {
  std::vector<Tensor> tokens;
  for (int64_t b = 0; b < batches; ++b) {
    std::vector<int64_t> t(2 * 8);
    for (int64_t& v : t) v = static_cast<int64_t>(gen.below(256));
    tokens.push_back(Tensor::from_vector(t, {2, 8}));
  }
  qat::calibrate(lm, batches, [&](int64_t i) { lm.forward(tokens[i], gen); });
}

TEST_F(QModelTest, CnnOfEverySchemeRoundTripsBitForBit) {
  for (const std::string scheme : {"w8a8", "w8a8_dyn", "fp8_e4m3", "w4a8"}) {
    SCOPED_TRACE(scheme);
    Generator gen(11);
    models::Cnn cnn(tiny_cnn(), gen);
    qat::prepare(cnn, {qat::scheme_config(scheme), {}, {}});
    calibrate_cnn(cnn, gen);
    const std::string path = file(scheme + ".qmodel");
    const uint64_t bytes = qat::export_qmodel(cnn, qat::describe_model(cnn), path);
    const ModelFile f = ModelFile::open(path);
    EXPECT_EQ(bytes, f.file_size());
    EXPECT_EQ(f.header().format_version(), runtime::kQModelVersion);
    ASSERT_TRUE(f.header().has_cnn());
    EXPECT_EQ(f.header().cnn().channels2(), 8);
    EXPECT_EQ(f.header().cnn().image_size(), 28);
    EXPECT_EQ(f.header().tokenizer().kind(), "labels");
    EXPECT_FALSE(f.header().provenance().created_utc().empty());
    EXPECT_EQ(f.header().layers_size(), 4);
    EXPECT_EQ(f.header().skipped_layers_size(), 0);
    EXPECT_EQ(f.layer("nope"), nullptr);
    expect_twins_round_trip(cnn, f);
    f.verify_all();
  }
}

TEST_F(QModelTest, AffineZeroPointsAndLearnedScalesRoundTripAndQuantizerStateStaysOut) {
  Generator gen(12);
  models::Cnn cnn(tiny_cnn(), gen);
  qat::LayerQuantConfig config;
  config.weight.spec = QuantSpec::int8_affine().per_channel(0).with_source(ScaleSource::kCurrent);
  config.input.spec = QuantSpec::uint8_affine();
  qat::LayerQuantConfig learned;
  learned.input.spec = QuantSpec::int8_symmetric().with_source(ScaleSource::kLearned);
  qat::prepare(cnn, {config, {}, {{"fc2", learned}}});
  calibrate_cnn(cnn, gen);
  cnn.train();
  cnn.forward(Tensor::randn({2, 1, 28, 28}, gen), gen);  // LSQ takes its first scale from here
  const std::string path = file("affine.qmodel");
  qat::export_qmodel(cnn, qat::describe_model(cnn), path);
  const ModelFile f = ModelFile::open(path);
  expect_twins_round_trip(cnn, f);
  EXPECT_TRUE(f.has_tensor("conv1.weight_zero_point"));
  EXPECT_TRUE(f.has_tensor("fc1.input_zero_point"));
  EXPECT_EQ(f.archive().dtype("conv1.weight_codes"), DType::i8);
  EXPECT_TRUE(f.header().layers(3).input().static_scale());
  for (const std::string& name : f.archive().names()) {
    EXPECT_EQ(name.find("fake_quant"), std::string::npos) << name;
  }
}

TEST_F(QModelTest, ReloadingAnExportKeepsTheWholeQuantConfig) {
  for (const std::string& scheme : qat::scheme_names()) {
    SCOPED_TRACE(scheme);
    Generator gen(13);
    models::Cnn cnn(tiny_cnn(), gen);
    qat::prepare(cnn, {qat::scheme_config(scheme), {"fc2"}, {}});
    calibrate_cnn(cnn, gen);
    const std::string path = file(scheme + ".qmodel");
    qat::export_qmodel(cnn, qat::describe_model(cnn), path);
    const ModelFile f = ModelFile::open(path);
    const qat::LayerQuantConfig want = qat::scheme_config(scheme);
    ASSERT_EQ(f.header().layers_size(), 3);
    for (const proto::Layer& l : f.header().layers()) {
      SCOPED_TRACE(l.name());
      EXPECT_EQ(f.weight_spec(l), want.weight.spec);
      EXPECT_EQ(f.input_spec(l), want.input.spec);
      EXPECT_EQ(l.input().static_scale(), want.input.spec.scale_source != ScaleSource::kCurrent);
    }
    ASSERT_EQ(f.header().skipped_layers_size(), 1);
    EXPECT_EQ(f.header().skipped_layers(0), "fc2");
    EXPECT_TRUE(same_bits(copy_of(f.tensor("fc2.weight", DType::f32, {10, 16})),
                          cnn.parameter("fc2.weight")));
  }
}

TEST_F(QModelTest, GptKeepsEmbeddingsNormsAndSkippedLmHeadInF32) {
  for (const std::string scheme : {"w8a8", "fp8_e4m3"}) {
    SCOPED_TRACE(scheme);
    Generator gen(14);
    models::Gpt gpt(tiny_lm(), gen);
    qat::prepare(gpt, {qat::scheme_config(scheme), {"lm_head"}, {}});
    calibrate_lm(gpt, gen);
    qat::ExportOptions options;
    options.provenance.set_method("ptq");
    options.provenance.set_scheme(scheme);
    options.provenance.set_created_utc("2024-01-02T03:04:05Z");
    const std::string path = file(scheme + ".qmodel");
    qat::export_qmodel(gpt, qat::describe_model(gpt, options), path);
    const ModelFile f = ModelFile::open(path);
    const proto::TransformerArch& arch = f.header().transformer();
    EXPECT_EQ(arch.family(), proto::TransformerArch::GPT);
    EXPECT_EQ(arch.dim(), 16);
    EXPECT_EQ(arch.mlp_hidden(), 64);  // resolved from the config's 0
    EXPECT_EQ(f.header().tokenizer().kind(), "bytes");
    EXPECT_EQ(f.header().provenance().scheme(), scheme);
    EXPECT_EQ(f.header().provenance().created_utc(), "2024-01-02T03:04:05Z");
    EXPECT_EQ(f.header().layers_size(), 4);
    ASSERT_EQ(f.header().skipped_layers_size(), 1);
    EXPECT_EQ(f.header().skipped_layers(0), "lm_head");
    EXPECT_EQ(f.layer("lm_head"), nullptr);
    for (const char* name :
         {"wte.weight", "wpe.weight", "blocks.0.ln1.bias", "ln_f.weight", "lm_head.weight"}) {
      EXPECT_TRUE(f.has_tensor(name)) << name;
    }
    expect_twins_round_trip(gpt, f);
  }
}

TEST_F(QModelTest, LlamaRecordsItsFamilyAndBiaslessLayers) {
  Generator gen(15);
  models::Llama llama(tiny_lm(), gen);
  qat::prepare(llama, {qat::scheme_config("w8a8_dyn"), {"lm_head"}, {}});
  calibrate_lm(llama, gen);
  const std::string path = file("llama.qmodel");
  qat::export_qmodel(llama, qat::describe_model(llama), path);
  const ModelFile f = ModelFile::open(path);
  EXPECT_EQ(f.header().transformer().family(), proto::TransformerArch::LLAMA);
  EXPECT_EQ(f.header().transformer().mlp_hidden(), llama.parameter("blocks.0.up.weight").size(0));
  EXPECT_EQ(f.header().layers_size(), 5);  // qkv, proj, gate, up, down
  for (const proto::Layer& l : f.header().layers()) EXPECT_FALSE(l.has_bias());
  expect_twins_round_trip(llama, f);
}

TEST_F(QModelTest, LlmInt8LayersStoreTheirOutlierColumnsAndRegularCodes) {
  Generator gen(16);
  models::Gpt gpt(tiny_lm(32), gen);
  const std::vector<int64_t> planted = {3, 17};
  qat::inject_outlier_features(gpt, planted, 20.0);
  ASSERT_EQ(qat::prepare_llm_int8(gpt).size(), 4u);
  calibrate_lm(gpt, gen, 3);
  const std::string path = file("llm_int8.qmodel");
  qat::export_qmodel(gpt, qat::describe_model(gpt), path);
  const ModelFile f = ModelFile::open(path);
  EXPECT_EQ(f.header().skipped_layers_size(), 1);
  int layers_with_outliers = 0;
  NoGradGuard no_grad;
  for (const proto::Layer& l : f.header().layers()) {
    SCOPED_TRACE(l.name());
    auto* layer = dynamic_cast<qat::LlmInt8Linear*>(module_named(gpt, l.name()));
    ASSERT_NE(layer, nullptr);
    EXPECT_TRUE(l.llm_int8());
    EXPECT_EQ(l.outlier_threshold(), qat::kLlmInt8Threshold);
    EXPECT_FALSE(l.input().static_scale());
    EXPECT_EQ(f.input_spec(l),
              QuantSpec::int8_symmetric().per_token().with_source(ScaleSource::kCurrent));
    const std::vector<int64_t> columns = layer->input_fake_quant().calibrated_columns();
    const int64_t k = static_cast<int64_t>(columns.size());
    EXPECT_EQ(f.outlier_count(l), k);
    EXPECT_EQ(stored(f, l.name() + ".outlier_columns").to_vector<int64_t>(), columns);
    if (l.name().find("qkv") != std::string::npos || l.name().find(".fc") != std::string::npos) {
      EXPECT_EQ(columns, planted);
    }
    layers_with_outliers += k > 0;

    const qat::LlmInt8Parts parts = qat::llm_int8_parts(*layer);
    EXPECT_TRUE(same_bits(stored(f, l.name() + ".outlier_weight"), parts.outlier_weight));
    EXPECT_TRUE(same_bits(stored(f, l.name() + ".weight_codes"), parts.regular_weight_codes));
    EXPECT_TRUE(same_bits(stored(f, l.name() + ".weight_scale"), parts.weight_scale));
    EXPECT_TRUE(same_bits(stored(f, l.name() + ".bias"), layer->bias()));

    // The regular columns, dequantized from the file, are the layer's fake-quant regular weight.
    const Tensor w = layer->weight().contiguous();
    const int64_t in = l.in_features(), out = l.out_features();
    std::vector<float> regular;
    for (int64_t r = 0; r < out; ++r) {
      for (int64_t c = 0; c < in; ++c) {
        if (std::find(columns.begin(), columns.end(), c) == columns.end()) {
          regular.push_back(w.data<float>()[r * in + c]);
        }
      }
    }
    const Tensor wr = Tensor::from_vector(regular, {out, in - k});
    const qat::FakeQuantizer& wfq = layer->weight_fake_quant();
    EXPECT_TRUE(same_bits(file_weight(f, l), qat::fake_quant(wr, wfq.spec(), wfq.qparams(wr))));
  }
  EXPECT_EQ(layers_with_outliers, 2);
}

TEST_F(QModelTest, ExportRefusesModelsWithoutQuantizedLayersOrArchitecture) {
  Generator gen(17);
  models::Cnn cnn(tiny_cnn(), gen);
  EXPECT_THROW(qat::export_qmodel(cnn, qat::describe_model(cnn), file("none.qmodel")), Error);
  qat::prepare(cnn, {});
  calibrate_cnn(cnn, gen);
  EXPECT_THROW(qat::export_qmodel(cnn, proto::QModel(), file("noarch.qmodel")), Error);
  EXPECT_FALSE(std::filesystem::exists(file("none.qmodel")));
}

// The default CNN: an int8 export against the same parameters written as an f32 archive.
TEST_F(QModelTest, Int8CnnIsAboutAQuarterOfItsF32Size) {
  Generator gen(18);
  models::Cnn cnn(models::CnnConfig{}, gen);
  std::vector<io::NamedView> params;
  for (const auto& [name, t] : cnn.named_parameters()) params.push_back({name, t.view()});
  io::write_archive(file("f32.archive"), params);
  qat::prepare(cnn, {});
  calibrate_cnn(cnn, gen);
  const uint64_t int8 = qat::export_qmodel(cnn, qat::describe_model(cnn), file("cnn.qmodel"));
  const uint64_t f32 = std::filesystem::file_size(file("f32.archive"));
  std::printf("default CNN: int8 .qmodel %llu bytes, f32 archive %llu bytes (%.1f%%)\n",
              static_cast<unsigned long long>(int8), static_cast<unsigned long long>(f32),
              100.0 * int8 / f32);
  EXPECT_LT(int8, f32 * 27 / 100);
  EXPECT_GT(int8, f32 / 4);
}

TEST_F(QModelTest, InspectPrintsLayersSkippedLayersTensorsAndSize) {
  Generator gen(19);
  models::Gpt gpt(tiny_lm(), gen);
  qat::prepare(gpt, {});
  calibrate_lm(gpt, gen);
  const std::string path = file("gpt.qmodel");
  qat::export_qmodel(gpt, qat::describe_model(gpt), path);

  CLI::App app;
  const std::function<int()> run = tools::add_inspect_command(app);
  std::vector<std::string> args = {"--verify", path, "inspect"};  // CLI11 parses from the back
  app.parse(args);
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(run(), 0);
  const std::string out = ::testing::internal::GetCapturedStdout();
  for (const std::string part :
       {"gpt: vocab 256, context 8, layers 1, heads 2, dim 16, mlp hidden 64", "blocks.0.attn.qkv",
        "48x16", "int8 sym [-127,127] per-channel(axis 0) current",
        "int8 sym [-127,127] per-tensor observer", "skipped layers (kept in f32): lm_head",
        "wte.weight", "verified the checksums", "% of f32"}) {
    EXPECT_NE(out.find(part), std::string::npos) << "missing '" << part << "' in\n" << out;
  }
}

}  // namespace
}  // namespace octet
