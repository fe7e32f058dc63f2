// The CNN experiment's outlier-aware PTQ rows on the real Fashion-MNIST data: "ptq llm_int8"
// (fc layers LLM.int8(), convs w8a8) and "ptq smoothquant" (folded along the conv/fc chain, then
// w8a8) come after the other rows, stay close to the FP32 model, and each exports to a .qmodel
// that octet's runtime runs with the fake-quant model's logits (the bound of the other CNN export
// checks: 1e-3 relative, 99.9% arg-max agreement, over all 10k test images).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "framework/data/fashion_mnist.h"
#include "qat/cnn_experiment.h"
#include "qat/export.h"
#include "runtime/loaded_model.h"
#include "tools/commands/export_check.h"

namespace octet {
namespace {

TEST(CnnOutlierPtq, LlmInt8AndSmoothquantRowsExportAndRunAsTheirFakeQuantModels) {
  train::CnnTrainOptions base;
  base.epochs = 1;
  base.train_limit = 20000;
  base.test_limit = 1000;
  Generator init(base.seed);
  models::Cnn model(models::CnnConfig{}, init);
  train::train_cnn(base, &model);

  const ImageDataset test = load_fashion_mnist(kFashionMnistDir, false);
  const Tensor images = train::normalize_images(test.images.data(), test.n);
  qat::CnnQuantOptions o;
  o.finetune_steps = 1;  // the fp32_finetune control is not what this test is about
  o.schemes = {};
  o.qat_schemes = std::vector<std::string>{};
  o.ptq_methods = {"llm_int8", "smoothquant"};
  o.eval_batch = 256;  // the runtime's chunks
  o.log = [](const std::string& s) { std::printf("%s\n", s.c_str()); };
  std::map<std::string, tools::AgreementReport> agreement;
  o.on_model = [&](const std::string& method, const std::string& scheme, models::Cnn& m) {
    if (method != "ptq") return;
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("cnn_outlier_ptq_" + std::to_string(::getpid()) + "_" + scheme))
                                 .string();
    qat::export_qmodel(m, qat::describe_model(m), path);
    const auto deployed = runtime::LoadedModel::open(path);
    for (const std::string& line : deployed->describe()) std::printf("  %s\n", line.c_str());
    agreement[scheme] = tools::compare_cnn(m, *deployed->cnn(), images.data<float>(), test.n);
    std::filesystem::remove(path);
  };
  std::map<std::string, double> acc;
  std::vector<std::string> labels;
  for (const qat::CnnQuantRow& r : qat::compare_cnn_quantization(model, o)) {
    labels.push_back(r.method + (r.scheme.empty() ? "" : " " + r.scheme));
    acc[labels.back()] = 100.0 * r.accuracy;
  }
  EXPECT_EQ(labels,
            (std::vector<std::string>{"fp32", "fp32_finetune", "ptq llm_int8", "ptq smoothquant"}));
  for (const char* scheme : {"llm_int8", "smoothquant"}) {
    ASSERT_TRUE(agreement.count(scheme)) << scheme;
    const tools::AgreementReport& r = agreement.at(scheme);
    std::printf("%-12s %s\n", scheme, r.str().c_str());
    EXPECT_EQ(r.rows, test.n);
    EXPECT_LE(r.logits_relative_error, 1e-3) << scheme;
    EXPECT_GE(r.argmax_agreement, 0.999) << scheme;
    // 8-bit PTQ of this CNN costs a few tenths of a point at most (README's table).
    EXPECT_NEAR(acc.at(std::string("ptq ") + scheme), acc.at("fp32"), 1.0) << scheme;
  }
}

}  // namespace
}  // namespace octet
