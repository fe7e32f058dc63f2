#include "qat/smoothquant.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "framework/models/cnn.h"
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

// Keeps the running max |x| per input channel of what a layer is fed.
class Recorder {
 public:
  virtual ~Recorder() = default;
  const std::vector<float>& amax() const { return amax_; }

 protected:
  explicit Recorder(int64_t channels) : amax_(static_cast<size_t>(channels), 0.0f) {}
  void merge(const std::vector<float>& batch) {
    for (size_t j = 0; j < amax_.size(); ++j) {
      // NaN must survive the merge so that smooth_quant can refuse it.
      amax_[j] = std::isnan(batch[j]) ? batch[j] : std::max(amax_[j], batch[j]);
    }
  }

 private:
  std::vector<float> amax_;
};

// A Linear that records per input column.
class RecordingLinear : public nn::Linear, public Recorder {
 public:
  explicit RecordingLinear(const nn::Linear& source)
      : nn::Linear(source.weight(), source.bias()), Recorder(source.in_features()) {}
  std::string type_name() const override { return "RecordingLinear"; }
  Tensor forward(const Tensor& x) override {
    if (x.dtype() == DType::f32 && x.dim() >= 1 && x.size(-1) == in_) {
      const Tensor xs = x.detach().contiguous();
      std::vector<float> batch(static_cast<size_t>(in_));
      quant::column_abs_max(xs.data<float>(), xs.numel() / in_, in_, batch.data());
      merge(batch);
    }
    return nn::Linear::forward(x);  // misfits throw there, with Linear's message
  }
};

// A Conv2d that records per input channel, over batch and space.
class RecordingConv2d : public nn::Conv2d, public Recorder {
 public:
  explicit RecordingConv2d(const nn::Conv2d& source)
      : nn::Conv2d(source.weight(), source.bias(), source.stride(), source.padding()),
        Recorder(source.weight().size(1)) {}
  std::string type_name() const override { return "RecordingConv2d"; }
  Tensor forward(const Tensor& x) override {
    const int64_t channels = weight_.size(1);
    if (x.dtype() == DType::f32 && x.dim() == 4 && x.size(1) == channels) {
      const Tensor xs = x.detach().contiguous();
      const int64_t n = xs.size(0), plane = xs.size(2) * xs.size(3);
      const float* v = xs.data<float>();
      std::vector<float> batch(static_cast<size_t>(channels), 0.0f);
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t c = 0; c < channels; ++c) {
          const float* p = v + (i * channels + c) * plane;
          float m = batch[c];
          for (int64_t e = 0; e < plane; ++e)
            m = std::isnan(p[e]) ? p[e] : std::max(m, std::fabs(p[e]));
          batch[c] = m;
        }
      }
      merge(batch);
    }
    return nn::Conv2d::forward(x);
  }
};

// What a producer's output channel j is made of: for each tensor, `span` consecutive elements
// starting at j * span (a norm's gain and bias: 1; a Linear's row: in; a Conv2d's filter: C*k*k;
// biases: 1).
struct ProducerParts {
  int64_t channels = 0;
  std::vector<std::pair<Tensor, int64_t>> slices;  // (tensor, span)
};

ProducerParts producer_parts(nn::Module& root, const std::string& name, const char* op) {
  nn::Module& m = *find_slot(root, name, op).module;
  ProducerParts p;
  auto add_bias = [&](const Tensor& bias) {
    if (bias.defined()) p.slices.emplace_back(bias, 1);
  };
  if (auto* ln = dynamic_cast<nn::LayerNorm*>(&m)) {
    p.channels = ln->weight().numel();
    p.slices = {{ln->weight(), 1}, {ln->bias(), 1}};
  } else if (auto* rms = dynamic_cast<nn::RMSNorm*>(&m)) {
    p.channels = rms->weight().numel();
    p.slices = {{rms->weight(), 1}};
  } else if (m.type_name() == "Linear") {
    const auto& lin = static_cast<const nn::Linear&>(m);
    p.channels = lin.out_features();
    p.slices = {{lin.weight(), lin.in_features()}};
    add_bias(lin.bias());
  } else if (m.type_name() == "Conv2d") {
    const auto& conv = static_cast<const nn::Conv2d&>(m);
    p.channels = conv.weight().size(0);
    p.slices = {{conv.weight(), conv.weight().numel() / p.channels}};
    add_bias(conv.bias());
  } else {
    throw Error(op, "module '" + name + "' is a " + m.type_name() +
                        ", not a LayerNorm, RMSNorm or plain Linear / Conv2d: nothing to fold "
                        "the scales into");
  }
  for (const auto& [t, span] : p.slices) {
    OCTET_CHECK(t.numel() == p.channels * span && t.is_contiguous(), op, "producer '", name,
                "' holds ", t.str(), ", not ", p.channels, " channels");
  }
  return p;
}

// A consumer's weight seen as [rows, channels, span]: input channel j of row r is the span
// elements at (r * channels + j) * span (a Linear: its columns_per_channel columns; a Conv2d:
// the k*k taps of the [r, j] filter slice).
struct ConsumerWeight {
  Tensor weight;
  int64_t rows = 0, span = 1;
};

ConsumerWeight consumer_weight(nn::Module& root, const std::string& name, int64_t channels,
                               int64_t columns_per_channel, const std::string& producer,
                               const char* op) {
  nn::Module& m = *find_slot(root, name, op).module;
  ConsumerWeight c;
  bool fits = false;
  if (m.type_name() == "Linear") {
    const auto& lin = static_cast<const nn::Linear&>(m);
    c = {lin.weight(), lin.out_features(), columns_per_channel};
    fits = lin.in_features() == channels * columns_per_channel;
  } else if (m.type_name() == "Conv2d") {
    const auto& conv = static_cast<const nn::Conv2d&>(m);
    const Tensor& w = conv.weight();
    c = {w, w.size(0), w.size(2) * w.size(3)};
    fits = w.size(1) == channels && columns_per_channel == 1;
  } else {
    throw Error(op, "layer '" + name + "' is a " + m.type_name() +
                        ", not a plain Linear or Conv2d (smoothing runs before qat::prepare)");
  }
  OCTET_CHECK(fits && c.weight.is_contiguous(), op, "layer '", name, "' with weight ",
              c.weight.str(), " does not take the ", channels, " channels of '", producer, "'",
              columns_per_channel == 1
                  ? std::string()
                  : " x " + std::to_string(columns_per_channel) + " columns each");
  return c;
}

std::string join(const std::string& parent, const std::string& child) {
  return parent.empty() ? child : parent + "." + child;
}

void collect_modules(const nn::Module& m, const std::string& prefix,
                     std::vector<std::pair<std::string, const nn::Module*>>& out) {
  out.emplace_back(prefix, &m);
  for (const auto& [name, child] : m.children()) collect_modules(*child, join(prefix, name), out);
}

// The chain of models/cnn.h: conv1 -relu-pool-> conv2 -relu-pool-flatten-> fc1 -relu-dropout->
// fc2. The flatten keeps NCHW order, so conv2's channel c is fc1's columns [c*HW, (c+1)*HW).
std::vector<SmoothGroup> cnn_smooth_groups(const models::Cnn& cnn) {
  const int64_t channels2 = cnn.config().channels2;
  const int64_t flat = cnn.parameter("fc1.weight").size(1);
  OCTET_CHECK(channels2 > 0 && flat % channels2 == 0, "smooth_groups", "cnn: fc1 takes ", flat,
              " inputs, not a multiple of conv2's ", channels2, " channels");
  return {{"conv1", {"conv2"}, 1}, {"conv2", {"fc1"}, flat / channels2}, {"fc1", {"fc2"}, 1}};
}

}  // namespace

std::vector<SmoothGroup> smooth_groups(const nn::Module& model) {
  if (const auto* cnn = dynamic_cast<const models::Cnn*>(&model)) return cnn_smooth_groups(*cnn);
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
    nn::Module& model, const std::vector<std::string>& layers,
    const std::function<void(int64_t)>& forward_batch, int64_t batches) {
  const char* op = "record_input_absmax";
  OCTET_CHECK(batches > 0, op, "needs at least one batch, got ", batches);
  struct Swapped {
    Slot slot;
    std::shared_ptr<nn::Module> recorder;
    const Recorder* stats;
  };
  std::vector<Swapped> swapped;
  std::map<std::string, size_t> index;  // a name listed twice is recorded once
  for (const std::string& name : layers) {
    if (!index.emplace(name, swapped.size()).second) continue;
    Slot slot = find_slot(model, name, op);
    const std::string type = slot.module->type_name();
    OCTET_CHECK(type == "Linear" || type == "Conv2d", op, "layer '", name, "' is a ", type,
                ", not a plain Linear or Conv2d: smoothing runs before qat::prepare and calibrate");
    std::shared_ptr<nn::Module> recorder;
    const Recorder* stats = nullptr;
    if (type == "Linear") {
      auto r = std::make_shared<RecordingLinear>(static_cast<const nn::Linear&>(*slot.module));
      stats = r.get();
      recorder = std::move(r);
    } else {
      auto r = std::make_shared<RecordingConv2d>(static_cast<const nn::Conv2d&>(*slot.module));
      stats = r.get();
      recorder = std::move(r);
    }
    slot.parent->replace_child(slot.child_name, recorder);
    swapped.push_back({std::move(slot), std::move(recorder), stats});
  }
  // The originals and the mode come back even when a batch throws.
  struct Restore {
    nn::Module& model;
    bool was_training;
    std::vector<Swapped>& swapped;
    ~Restore() {
      for (Swapped& s : swapped) s.slot.parent->replace_child(s.slot.child_name, s.slot.module);
      model.train(was_training);
    }
  } restore{model, model.is_training(), swapped};
  model.eval();  // no dropout while recording
  {
    NoGradGuard no_grad;
    for (int64_t i = 0; i < batches; ++i) forward_batch(i);
  }
  std::map<std::string, std::vector<float>> out;
  for (const auto& [name, i] : index) out[name] = swapped[i].stats->amax();
  return out;
}

void fold_channel_scales(nn::Module& model, const SmoothGroup& group,
                         const std::vector<double>& s) {
  const char* op = "fold_channel_scales";
  for (double v : s) {
    OCTET_CHECK(std::isfinite(v) && v > 0, op, "group '", group.norm,
                "': channel scales must be positive and finite, got ", v);
  }
  OCTET_CHECK(group.columns_per_channel > 0, op, "group '", group.norm,
              "': columns_per_channel must be positive, got ", group.columns_per_channel);
  const int64_t channels = static_cast<int64_t>(s.size());
  const ProducerParts producer = producer_parts(model, group.norm, op);
  OCTET_CHECK(producer.channels == channels, op, "producer '", group.norm, "' has ",
              producer.channels, " channels, got ", channels, " scales");
  std::vector<ConsumerWeight> consumers;
  for (const std::string& name : group.linears) {
    consumers.push_back(
        consumer_weight(model, name, channels, group.columns_per_channel, group.norm, op));
  }
  NoGradGuard no_grad;
  for (const auto& [t, span] : producer.slices) {
    float* v = t.data<float>();
    for (int64_t j = 0; j < channels; ++j) {
      for (int64_t e = j * span; e < (j + 1) * span; ++e) v[e] = static_cast<float>(v[e] / s[j]);
    }
  }
  for (const ConsumerWeight& c : consumers) {
    float* w = c.weight.data<float>();
    for (int64_t r = 0; r < c.rows; ++r) {
      for (int64_t j = 0; j < channels; ++j) {
        float* p = w + (r * channels + j) * c.span;
        for (int64_t e = 0; e < c.span; ++e) p[e] = static_cast<float>(p[e] * s[j]);
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
  // Every group's scales from the model as recorded, then every fold.
  std::vector<std::vector<double>> scales;
  for (const SmoothGroup& g : groups) {
    OCTET_CHECK(g.columns_per_channel > 0, op, "group '", g.norm,
                "': columns_per_channel must be positive, got ", g.columns_per_channel);
    const int64_t channels = producer_parts(model, g.norm, op).channels;
    std::vector<double> x_max(channels, 0.0), w_max(channels, 0.0);
    for (const std::string& name : g.linears) {
      const ConsumerWeight c =
          consumer_weight(model, name, channels, g.columns_per_channel, g.norm, op);
      // A Linear's statistic is per column: its channel's columns are consecutive.
      const std::vector<float>& a = act_max.at(name);
      const int64_t per_channel = static_cast<int64_t>(a.size()) / channels;
      const float* wv = c.weight.data<float>();
      for (int64_t j = 0; j < channels; ++j) {
        for (int64_t k = j * per_channel; k < (j + 1) * per_channel; ++k) {
          OCTET_CHECK(std::isfinite(a[k]), op, "layer '", name, "' saw a non-finite input ", a[k],
                      " in channel ", k);
          x_max[j] = std::max(x_max[j], static_cast<double>(a[k]));
        }
        for (int64_t r = 0; r < c.rows; ++r) {
          const float* p = wv + (r * channels + j) * c.span;
          for (int64_t e = 0; e < c.span; ++e) {
            w_max[j] = std::max(w_max[j], static_cast<double>(std::fabs(p[e])));
          }
        }
      }
    }
    std::vector<double>& s = scales.emplace_back(channels);
    for (int64_t j = 0; j < channels; ++j) {
      s[j] = std::pow(std::max(x_max[j], kMinChannelMax), alpha) /
             std::pow(std::max(w_max[j], kMinChannelMax), 1.0 - alpha);
    }
  }
  for (size_t i = 0; i < groups.size(); ++i) fold_channel_scales(model, groups[i], scales[i]);
}

}  // namespace octet::qat
