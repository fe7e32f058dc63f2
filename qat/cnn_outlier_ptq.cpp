#include "qat/cnn_outlier_ptq.h"

#include <algorithm>
#include <memory>

#include "qat/llm_int8.h"
#include "qat/smoothquant.h"

namespace octet::qat {
namespace {

bool matches_any(const std::string& name, const std::vector<std::string>& fragments) {
  return std::any_of(fragments.begin(), fragments.end(), [&](const std::string& f) {
    return !f.empty() && name.find(f) != std::string::npos;
  });
}

// The CNN's Linears are direct children (models/cnn.h); prepare_llm_int8's walk would stop at
// the conv twins prepared just before (it refuses to meet a prepared layer), so they are swapped
// here, with the same twin.
void swap_linears_for_llm_int8(models::Cnn& model, const std::vector<std::string>& skip,
                               double threshold) {
  const auto children = model.children();  // a copy: replace_child edits the list
  for (const auto& [name, child] : children) {
    if (child->type_name() != "Linear" || matches_any(name, skip)) continue;
    model.replace_child(name, std::make_shared<LlmInt8Linear>(
                                  static_cast<const nn::Linear&>(*child), threshold, name));
  }
}

}  // namespace

std::string cnn_outlier_layout(const std::string& method) {
  if (method == "llm_int8") return "fc layers LLM.int8(); convs w8a8";
  if (method == "smoothquant") return "SmoothQuant a=0.5 on conv2, fc1, fc2 inputs; then w8a8";
  throw Error("cnn_outlier_ptq",
              "unknown PTQ method '" + method + "' (known: llm_int8, " + "smoothquant)");
}

void prepare_cnn_outlier_ptq(models::Cnn& model, const std::string& method, const QatConfig& w8a8,
                             double threshold, const std::function<void(int64_t)>& forward_batch,
                             int64_t batches) {
  cnn_outlier_layout(method);  // throws on an unknown method before anything changes
  if (method == "llm_int8") {
    QatConfig convs = w8a8;
    for (const auto& [name, child] : model.children())
      if (child->type_name() == "Linear") convs.skip.push_back(name);
    prepare(model, convs);
    swap_linears_for_llm_int8(model, w8a8.skip, threshold);
  } else {
    smooth_quant(model, smooth_groups(model), forward_batch, batches);
    prepare(model, w8a8);
  }
  calibrate(model, batches, forward_batch);
}

}  // namespace octet::qat
