#include "qat/prepare.h"

#include <memory>

#include "framework/tensor/autograd.h"

namespace octet::qat {
namespace {

bool contains_any(const std::string& name, const std::vector<std::string>& fragments) {
  for (const std::string& f : fragments) {
    if (!f.empty() && name.find(f) != std::string::npos) return true;
  }
  return false;
}

const LayerQuantConfig& config_for(const std::string& name, const QatConfig& config) {
  for (const auto& [fragment, layer] : config.overrides) {
    if (name.find(fragment) != std::string::npos) return layer;
  }
  return config.layers;
}

std::string join(const std::string& parent, const std::string& child) {
  return parent.empty() ? child : parent + "." + child;
}

}  // namespace

std::vector<std::string> prepare(nn::Module& root, const QatConfig& config) {
  std::vector<std::string> swapped;
  for (auto& [parent_name, parent] : root.named_modules()) {
    // Collected first: replace_child changes the list being walked.
    std::vector<std::pair<std::string, std::shared_ptr<nn::Module>>> children = parent->children();
    for (const auto& [child_name, child] : children) {
      const std::string name = join(parent_name, child_name);
      OCTET_CHECK(dynamic_cast<QuantTwin*>(child.get()) == nullptr, "prepare", "layer '", name,
                  "' is already a fake-quant twin: the model was prepared twice");
      if (contains_any(name, config.skip)) continue;
      const LayerQuantConfig& layer = config_for(name, config);
      if (child->type_name() == "Linear") {
        parent->replace_child(child_name, std::make_shared<QuantLinear>(
                                              static_cast<const nn::Linear&>(*child), layer));
      } else if (child->type_name() == "Conv2d") {
        parent->replace_child(child_name, std::make_shared<QuantConv2d>(
                                              static_cast<const nn::Conv2d&>(*child), layer));
      } else {
        continue;
      }
      swapped.push_back(name);
    }
  }
  return swapped;
}

std::vector<std::pair<std::string, FakeQuantizer*>> fake_quantizers(nn::Module& root) {
  std::vector<std::pair<std::string, FakeQuantizer*>> out;
  for (auto& [name, module] : root.named_modules()) {
    if (auto* fq = dynamic_cast<FakeQuantizer*>(module)) out.emplace_back(name, fq);
  }
  return out;
}

void enable_observers(nn::Module& root, bool on) {
  for (auto& [name, fq] : fake_quantizers(root)) fq->enable_observer(on);
}

void enable_fake_quant(nn::Module& root, bool on) {
  for (auto& [name, fq] : fake_quantizers(root)) fq->enable_fake_quant(on);
}

void QatSchedule::apply(nn::Module& root, int64_t step) const {
  enable_fake_quant(root, step >= fake_quant_from_step);
  enable_observers(root, freeze_observers_at_step < 0 || step < freeze_observers_at_step);
}

void calibrate(nn::Module& root, int64_t batches,
               const std::function<void(int64_t)>& forward_batch) {
  // The model runs in evaluation mode (no dropout) while its quantizers observe.
  const bool was_training = root.is_training();
  root.eval();
  for (auto& [name, fq] : fake_quantizers(root)) fq->train(true);
  enable_observers(root, true);
  enable_fake_quant(root, false);
  {
    NoGradGuard no_grad;
    for (int64_t i = 0; i < batches; ++i) forward_batch(i);
  }
  enable_observers(root, false);
  enable_fake_quant(root, true);
  root.train(was_training);
}

}  // namespace octet::qat
