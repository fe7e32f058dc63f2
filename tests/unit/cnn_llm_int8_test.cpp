// LLM.int8() on the CNN (qat/cnn_outlier_ptq.h): the fc layers become LlmInt8Linear twins whose
// calibrated outlier columns are the injected outlier channel's block, the convs w8a8 twins; the
// model exports to a .qmodel whose fc layers the runtime runs as llm.int8 (outlier columns f32,
// the rest int8) and whose logits agree with the fake-quant model's within the bound of the other
// CNN export checks (1e-3 relative, 99.9% arg-max agreement).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "framework/models/cnn.h"
#include "qat/cnn_outlier_ptq.h"
#include "qat/export.h"
#include "qat/llm_int8.h"
#include "qat/schemes.h"
#include "qat/smoothquant.h"
#include "runtime/loaded_model.h"
#include "tools/commands/export_check.h"

namespace octet {
namespace {

qat::QatConfig w8a8() {
  qat::QatConfig config;
  config.layers = qat::scheme_config("w8a8");
  return config;
}

constexpr int64_t kBatch = 64, kBatches = 4, kImages = 600;

// An untrained small CNN whose conv2 channel 5 (fc1's columns [245, 294)) is 40x larger than the
// rest, the FP32 function unchanged, and whose fc1 output 7 (fc2's column 7) sits at about 10,
// above the threshold, where the other columns stay below 1.
std::unique_ptr<models::Cnn> cnn_with_outliers() {
  Generator gen(21);
  auto model = std::make_unique<models::Cnn>(models::CnnConfig{8, 16, 32, 10, 0.0}, gen);
  std::vector<double> s(16, 1.0);
  s[5] = 1.0 / 40;
  qat::fold_channel_scales(*model, {"conv2", {"fc1"}, 49}, s);
  model->parameter("fc1.bias").data<float>()[7] = 10.0f;
  return model;
}

const qat::LlmInt8Linear* llm_layer(models::Cnn& model, const std::string& name) {
  for (auto& [n, module] : model.named_modules())
    if (n == name) return dynamic_cast<const qat::LlmInt8Linear*>(module);
  return nullptr;
}

TEST(CnnLlmInt8, FcLayersKeepTheOutlierColumnsAndTheRuntimeMatchesTheFakeQuantModel) {
  auto model = cnn_with_outliers();
  Generator gen(22);
  const Tensor images = Tensor::randn({kImages, 1, 28, 28}, gen);
  Generator unused(0);
  qat::prepare_cnn_outlier_ptq(
      *model, "llm_int8", w8a8(), qat::kLlmInt8Threshold,
      [&](int64_t i) { model->forward(images.slice(0, i * kBatch, (i + 1) * kBatch), unused); },
      kBatches);

  for (auto& [name, module] : model->named_modules()) {
    if (name == "conv1" || name == "conv2") {
      EXPECT_NE(dynamic_cast<qat::QuantTwin*>(module), nullptr) << name << " should be w8a8";
    }
  }
  const qat::LlmInt8Linear* fc1 = llm_layer(*model, "fc1");
  const qat::LlmInt8Linear* fc2 = llm_layer(*model, "fc2");
  ASSERT_NE(fc1, nullptr);
  ASSERT_NE(fc2, nullptr);
  const std::vector<int64_t> fc1_outliers = fc1->input_fake_quant().calibrated_columns();
  ASSERT_FALSE(fc1_outliers.empty());
  for (int64_t c : fc1_outliers) EXPECT_EQ(c / 49, 5) << "column " << c << " is no outlier";
  EXPECT_EQ(fc2->input_fake_quant().calibrated_columns(), std::vector<int64_t>{7});

  const std::string path = (std::filesystem::temp_directory_path() /
                            ("cnn_llm_int8_test_" + std::to_string(::getpid()) + ".qmodel"))
                               .string();
  qat::export_qmodel(*model, qat::describe_model(*model), path);
  const auto deployed = runtime::LoadedModel::open(path);
  const runtime::CnnRuntime& cnn = *deployed->cnn();
  const std::vector<std::string> layers = cnn.describe();
  ASSERT_EQ(layers.size(), 4u);
  EXPECT_NE(layers[0].find("int8 GEMM"), std::string::npos) << layers[0];
  EXPECT_NE(layers[2].find("llm.int8"), std::string::npos) << layers[2];
  EXPECT_NE(layers[3].find("llm.int8: 1 outlier"), std::string::npos) << layers[3];

  const tools::AgreementReport r = tools::compare_cnn(*model, cnn, images.data<float>(), kImages);
  std::printf("%s\n", r.str().c_str());
  EXPECT_EQ(r.rows, kImages);
  EXPECT_LE(r.logits_relative_error, 1e-3);
  EXPECT_GE(r.argmax_agreement, 0.999);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace octet
