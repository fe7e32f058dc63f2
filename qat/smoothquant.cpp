#include "qat/smoothquant.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "framework/nn/layers.h"
#include "framework/tensor/autograd.h"
#include "ops/quant/outliers.h"

namespace octet::qat {
namespace {

// Floors both maxima, as SmoothQuant's reference does: a dead channel must not give s = 0 or inf.
constexpr double kMinChannelMax = 1e-5;

// The module at a dotted path and the parent that holds it (for replace_child).
struct Slot {
  nn::Module* parent = nullptr;
  std::string child_name;
  std::shared_ptr<nn::Module> module;
};

Slot find_slot(nn::Module& root, const std::string& dotted, const char* op) {
  OCTET_CHECK(!dotted.empty(), op, "empty layer name");
  Slot slot{&root, "", nullptr};
  size_t begin = 0;
  while (true) {
    const size_t dot = dotted.find('.', begin);
    slot.child_name = dotted.substr(begin, dot == std::string::npos ? dotted.npos : dot - begin);
    bool found = false;
    for (const auto& [name, child] : slot.parent->children()) {
      if (name == slot.child_name) {
        slot.module = child;
        found = true;
      }
    }
    OCTET_CHECK(found, op, "the model has no module '", dotted, "'");
    if (dot == std::string::npos) return slot;
    slot.parent = slot.module.get();
    begin = dot + 1;
  }
}

nn::Linear& linear_at(nn::Module& root, const std::string& name, const char* op) {
  auto* lin = dynamic_cast<nn::Linear*>(find_slot(root, name, op).module.get());
  OCTET_CHECK(lin != nullptr, op, "layer '", name, "' is not a Linear");
  return *lin;
}

// A Linear that also keeps the running per-input-channel max |x| of what it is fed.
class RecordingLinear : public nn::Linear {
 public:
  explicit RecordingLinear(const nn::Linear& source)
      : nn::Linear(source.weight(), source.bias()), amax_(static_cast<size_t>(in_), 0.0f) {}
  std::string type_name() const override { return "RecordingLinear"; }
  Tensor forward(const Tensor& x) override {
    if (x.dtype() == DType::f32 && x.dim() >= 1 && x.size(-1) == in_) {
      const Tensor xs = x.detach().contiguous();
      std::vector<float> batch(amax_.size());
      quant::column_abs_max(xs.data<float>(), xs.numel() / in_, in_, batch.data());
      for (size_t j = 0; j < amax_.size(); ++j) {
        // NaN must survive the merge so that smooth_quant can refuse it.
        amax_[j] = std::isnan(batch[j]) ? batch[j] : std::max(amax_[j], batch[j]);
      }
    }
    return nn::Linear::forward(x);  // misfits throw there, with Linear's message
  }
  const std::vector<float>& amax() const { return amax_; }

 private:
  std::vector<float> amax_;
};

// The norm's gain (and LayerNorm's bias), or a throw naming the module.
std::vector<Tensor> norm_tensors(nn::Module& norm, const std::string& name, const char* op) {
  if (auto* ln = dynamic_cast<nn::LayerNorm*>(&norm)) return {ln->weight(), ln->bias()};
  if (auto* rms = dynamic_cast<nn::RMSNorm*>(&norm)) return {rms->weight()};
  throw Error(op, "module '" + name + "' is a " + norm.type_name() +
                      ", not a LayerNorm or RMSNorm: nothing to fold the scales into");
}

std::string join(const std::string& parent, const std::string& child) {
  return parent.empty() ? child : parent + "." + child;
}

void collect_modules(const nn::Module& m, const std::string& prefix,
                     std::vector<std::pair<std::string, const nn::Module*>>& out) {
  out.emplace_back(prefix, &m);
  for (const auto& [name, child] : m.children()) collect_modules(*child, join(prefix, name), out);
}

}  // namespace

std::vector<SmoothGroup> smooth_groups(const nn::Module& model) {
  // Which linears read each norm, by the names models/gpt.h gives them inside a block.
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kConsumers = {
      {"ln1", {"attn.qkv"}},
      {"ln2", {"fc"}},
      {"attn_norm", {"attn.qkv"}},
      {"mlp_norm", {"gate", "up"}},
  };
  std::vector<std::pair<std::string, const nn::Module*>> modules;
  collect_modules(model, "", modules);
  auto find = [&](const std::string& name) -> const nn::Module* {
    for (const auto& [n, m] : modules) {
      if (n == name) return m;
    }
    return nullptr;
  };
  std::vector<SmoothGroup> groups;
  for (const auto& [name, module] : modules) {
    if (dynamic_cast<const nn::LayerNorm*>(module) == nullptr &&
        dynamic_cast<const nn::RMSNorm*>(module) == nullptr) {
      continue;
    }
    const size_t dot = name.rfind('.');
    const std::string block = dot == std::string::npos ? "" : name.substr(0, dot);
    const std::string leaf = dot == std::string::npos ? name : name.substr(dot + 1);
    for (const auto& [norm_leaf, consumers] : kConsumers) {
      if (leaf != norm_leaf) continue;
      SmoothGroup group{name, {}};
      for (const std::string& c : consumers) {
        if (dynamic_cast<const nn::Linear*>(find(join(block, c))) != nullptr) {
          group.linears.push_back(join(block, c));
        }
      }
      if (group.linears.size() == consumers.size()) groups.push_back(std::move(group));
    }
  }
  return groups;
}

std::map<std::string, std::vector<float>> record_input_absmax(
    nn::Module& model, const std::vector<std::string>& linears,
    const std::function<void(int64_t)>& forward_batch, int64_t batches) {
  const char* op = "record_input_absmax";
  OCTET_CHECK(batches > 0, op, "needs at least one batch, got ", batches);
  std::vector<std::pair<Slot, std::shared_ptr<RecordingLinear>>> swapped;
  std::map<std::string, size_t> index;  // a name listed twice is recorded once
  for (const std::string& name : linears) {
    if (!index.emplace(name, swapped.size()).second) continue;
    Slot slot = find_slot(model, name, op);
    OCTET_CHECK(slot.module->type_name() == "Linear", op, "layer '", name, "' is a ",
                slot.module->type_name(),
                ", not a plain Linear: smoothing runs before qat::prepare and calibrate");
    auto recorder = std::make_shared<RecordingLinear>(static_cast<const nn::Linear&>(*slot.module));
    slot.parent->replace_child(slot.child_name, recorder);
    swapped.emplace_back(std::move(slot), std::move(recorder));
  }
  // The originals and the mode come back even when a batch throws.
  struct Restore {
    nn::Module& model;
    bool was_training;
    std::vector<std::pair<Slot, std::shared_ptr<RecordingLinear>>>& swapped;
    ~Restore() {
      for (auto& [slot, recorder] : swapped) {
        slot.parent->replace_child(slot.child_name, slot.module);
      }
      model.train(was_training);
    }
  } restore{model, model.is_training(), swapped};
  model.eval();  // no dropout while recording
  {
    NoGradGuard no_grad;
    for (int64_t i = 0; i < batches; ++i) forward_batch(i);
  }
  std::map<std::string, std::vector<float>> out;
  for (const auto& [name, i] : index) out[name] = swapped[i].second->amax();
  return out;
}

void fold_channel_scales(nn::Module& model, const SmoothGroup& group,
                         const std::vector<double>& s) {
  const char* op = "fold_channel_scales";
  for (double v : s) {
    OCTET_CHECK(std::isfinite(v) && v > 0, op, "group '", group.norm,
                "': channel scales must be positive and finite, got ", v);
  }
  const int64_t channels = static_cast<int64_t>(s.size());
  const std::vector<Tensor> norm =
      norm_tensors(*find_slot(model, group.norm, op).module, group.norm, op);
  std::vector<nn::Linear*> linears;
  for (const std::string& name : group.linears) {
    nn::Linear& lin = linear_at(model, name, op);
    OCTET_CHECK(lin.in_features() == channels && lin.weight().is_contiguous(), op, "layer '", name,
                "' with weight ", lin.weight().str(), " does not take the ", channels,
                " channels of '", group.norm, "'");
    linears.push_back(&lin);
  }
  for (const Tensor& t : norm) {
    OCTET_CHECK(t.numel() == channels && t.is_contiguous(), op, "norm '", group.norm, "' holds ",
                t.str(), ", not ", channels, " channels");
  }
  NoGradGuard no_grad;
  for (const Tensor& t : norm) {
    float* v = t.data<float>();
    for (int64_t j = 0; j < channels; ++j) v[j] = static_cast<float>(v[j] / s[j]);
  }
  for (nn::Linear* lin : linears) {
    float* w = lin->weight().data<float>();
    for (int64_t r = 0; r < lin->out_features(); ++r) {
      for (int64_t j = 0; j < channels; ++j) {
        w[r * channels + j] = static_cast<float>(w[r * channels + j] * s[j]);
      }
    }
  }
}

void smooth_quant(nn::Module& model, const std::vector<SmoothGroup>& groups,
                  const std::function<void(int64_t)>& forward_batch, int64_t batches,
                  double alpha) {
  const char* op = "smooth_quant";
  OCTET_CHECK(alpha >= 0 && alpha <= 1, op, "alpha must lie in [0, 1], got ", alpha);
  OCTET_CHECK(!groups.empty(), op, "no groups to smooth (smooth_groups found no norm -> linear)");
  std::vector<std::string> names;
  for (const SmoothGroup& g : groups) {
    OCTET_CHECK(!g.linears.empty(), op, "group '", g.norm, "' has no linears");
    names.insert(names.end(), g.linears.begin(), g.linears.end());
  }
  const auto act_max = record_input_absmax(model, names, forward_batch, batches);
  for (const SmoothGroup& g : groups) {
    const int64_t channels = linear_at(model, g.linears.front(), op).in_features();
    std::vector<double> x_max(channels, 0.0), w_max(channels, 0.0);
    for (const std::string& name : g.linears) {
      const nn::Linear& lin = linear_at(model, name, op);
      OCTET_CHECK(lin.in_features() == channels, op, "group '", g.norm, "': layer '", name,
                  "' takes ", lin.in_features(), " inputs, its group ", channels);
      const std::vector<float>& a = act_max.at(name);
      const Tensor w = lin.weight().detach().contiguous();
      const float* wv = w.data<float>();
      for (int64_t j = 0; j < channels; ++j) {
        OCTET_CHECK(std::isfinite(a[j]), op, "layer '", name, "' saw a non-finite input ", a[j],
                    " in channel ", j);
        x_max[j] = std::max(x_max[j], static_cast<double>(a[j]));
        for (int64_t r = 0; r < lin.out_features(); ++r) {
          w_max[j] = std::max(w_max[j], static_cast<double>(std::fabs(wv[r * channels + j])));
        }
      }
    }
    std::vector<double> s(channels);
    for (int64_t j = 0; j < channels; ++j) {
      s[j] = std::pow(std::max(x_max[j], kMinChannelMax), alpha) /
             std::pow(std::max(w_max[j], kMinChannelMax), 1.0 - alpha);
    }
    fold_channel_scales(model, g, s);
  }
}

}  // namespace octet::qat
