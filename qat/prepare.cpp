#include "qat/prepare.h"

#include <memory>

#include "framework/tensor/autograd.h"
#include "qat/layer_swap.h"

namespace octet::qat {
namespace {

const LayerQuantConfig& config_for(const std::string& name, const QatConfig& config) {
  for (const auto& [fragment, layer] : config.overrides) {
    if (name.find(fragment) != std::string::npos) return layer;
  }
  return config.layers;
}

}  // namespace

std::vector<std::string> prepare(nn::Module& root, const QatConfig& config) {
  return swap_layers(
      root, config.skip, "prepare",
      [&](const std::string& name, nn::Module& layer) -> std::shared_ptr<nn::Module> {
        const LayerQuantConfig& c = config_for(name, config);
        if (layer.type_name() == "Linear") {
          return std::make_shared<QuantLinear>(static_cast<const nn::Linear&>(layer), c);
        }
        if (layer.type_name() == "Conv2d") {
          return std::make_shared<QuantConv2d>(static_cast<const nn::Conv2d&>(layer), c);
        }
        if (layer.type_name() == "Embedding" && config.embeddings) {
          return std::make_shared<QuantEmbedding>(static_cast<const nn::Embedding&>(layer),
                                                  *config.embeddings);
        }
        return nullptr;
      });
}

QatConfig with_int8_embeddings_and_head(QatConfig config) {
  std::erase(config.skip, std::string("lm_head"));
  LayerQuantConfig head = config.layers;
  head.weight = int8_rows_config();
  head.quantize_input = false;
  config.overrides.insert(config.overrides.begin(), {"lm_head", head});
  config.embeddings = int8_rows_config();
  return config;
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
