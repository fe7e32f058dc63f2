// Writes the seed corpus for qmodel_header_fuzz: small real exports that cover every part a
// layer can have (conv and linear, i8 / u8 / FP8 codes, zero points, static and dynamic input
// scales, LLM.int8() outlier columns, skipped layers, f32 tensors). Small on purpose: libFuzzer
// caps mutated inputs near the largest seed, and every execution writes the input to a file.
//   qmodel_fuzz_seeds <directory>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "qat/export.h"
#include "qat/llm_int8.h"
#include "qat/outlier_injection.h"
#include "qat/prepare.h"
#include "qat/schemes.h"

namespace {

using namespace octet;

models::GptConfig tiny_lm() {
  models::GptConfig c;
  c.vocab = 16;
  c.block = 4;
  c.layers = 1;
  c.heads = 1;
  c.dim = 8;
  c.mlp_hidden = 8;
  return c;
}

// A CNN whose fc1 sees 2 * 7 * 7 features: the smallest the 28x28 architecture allows.
void write_cnn(const std::string& path, const qat::LayerQuantConfig& config) {
  Generator gen(1);
  models::Cnn cnn({1, 2, 4, 3, 0.0}, gen);
  qat::prepare(cnn, {config, {"fc2"}, {}});
  const Tensor images = Tensor::randn({2, 1, 28, 28}, gen);
  qat::calibrate(cnn, 1, [&](int64_t) { cnn.forward(images, gen); });
  qat::export_qmodel(cnn, qat::describe_model(cnn), path);
}

void calibrate_lm(models::LanguageModel& lm, Generator& gen) {
  std::vector<int64_t> t(2 * 4);
  for (int64_t& v : t) v = static_cast<int64_t>(gen.below(16));
  const Tensor tokens = Tensor::from_vector(t, {2, 4});
  qat::calibrate(lm, 1, [&](int64_t) { lm.forward(tokens, gen); });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <directory>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  try {
    std::filesystem::create_directories(dir);
    write_cnn(dir + "/cnn_w8a8.qmodel", qat::scheme_config("w8a8"));
    write_cnn(dir + "/cnn_fp8.qmodel", qat::scheme_config("fp8_e4m3"));
    qat::LayerQuantConfig affine;
    affine.weight.spec =
        quant::QuantSpec::int8_affine().per_channel(0).with_source(quant::ScaleSource::kCurrent);
    affine.input.spec = quant::QuantSpec::uint8_affine();
    write_cnn(dir + "/cnn_affine.qmodel", affine);

    Generator gen(2);
    models::Gpt gpt(tiny_lm(), gen);
    qat::prepare(gpt, {qat::scheme_config("w8a8_dyn"), {"lm_head"}, {}});
    calibrate_lm(gpt, gen);
    qat::export_qmodel(gpt, qat::describe_model(gpt), dir + "/gpt_w8a8_dyn.qmodel");

    Generator gen2(3);
    models::Gpt outliers(tiny_lm(), gen2);
    qat::inject_outlier_features(outliers, {1, 5}, 20.0);
    qat::prepare_llm_int8(outliers);
    calibrate_lm(outliers, gen2);
    qat::export_qmodel(outliers, qat::describe_model(outliers), dir + "/gpt_llm_int8.qmodel");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qmodel_fuzz_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
