#include "qat/export.h"

#include <ctime>
#include <filesystem>
#include <map>
#include <vector>

#include "framework/io/archive.h"
#include "framework/io/quant_spec_proto.h"
#include "framework/tensor/autograd.h"
#include "qat/convert.h"
#include "qat/llm_int8.h"
#include "qat/quant_layers.h"

namespace octet::qat {
namespace {

// The tensors of the file, each kept alive (and contiguous) until write_archive has read it.
class TensorList {
 public:
  void add(const std::string& name, const Tensor& t) {
    Tensor c = t.detach().contiguous();
    owners_.push_back(c);
    views_.push_back({name, c.view()});
  }
  void add_f32(const std::string& name, const Tensor& t) {
    add(name, t.dtype() == DType::f32 ? t : t.detach().to(DType::f32));
  }
  const std::vector<io::NamedView>& views() const { return views_; }

 private:
  std::vector<Tensor> owners_;
  std::vector<io::NamedView> views_;
};

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void add_scales(const std::string& prefix, const QParams& p, const Shape& shape, TensorList& out) {
  out.add(prefix + "_scale", p.scale.contiguous().reshape(shape));
  if (p.zero_point.defined()) {
    out.add(prefix + "_zero_point", p.zero_point.contiguous().reshape(shape));
  }
}

void add_twin(const ConvertedLayer& c, proto::QModel& description, TensorList& out) {
  proto::Layer* layer = description.add_layers();
  layer->set_name(c.name);
  const Shape& w = c.weight.codes.shape();
  layer->set_out_features(w[0]);
  layer->set_in_features(w[1]);
  if (c.kind == "conv2d") {
    OCTET_CHECK(w.size() == 4 && w[2] == w[3], "export", "layer '", c.name,
                "': the format stores square convolution kernels, got weight ", shape_str(w));
    layer->set_kind(proto::Layer::CONV2D);
    layer->set_kernel(w[2]);
    layer->set_stride(c.stride);
    layer->set_padding(c.padding);
  } else {
    layer->set_kind(c.kind == "embedding" ? proto::Layer::EMBEDDING : proto::Layer::LINEAR);
  }
  *layer->mutable_weight() = io::to_proto(c.weight.spec);
  out.add(c.name + ".weight_codes", c.weight.codes);
  add_scales(c.name + ".weight", c.weight.params, io::stored_scale_shape(c.weight.spec, w), out);

  if (c.quantized_input) {  // else weight-only: no input message, the runtime keeps f32 inputs
    proto::InputQuant* input = layer->mutable_input();
    *input->mutable_spec() = io::to_proto(c.input_spec);
    input->set_static_scale(c.input_params.scale.defined());
    if (input->static_scale()) {
      add_scales(c.name + ".input", c.input_params,
                 io::stored_input_scale_shape(c.input_spec, *layer), out);
    }
  }
  layer->set_has_bias(c.bias.defined());
  if (c.bias.defined()) out.add_f32(c.name + ".bias", c.bias);
}

void add_llm_int8(const std::string& name, const LlmInt8Linear& module, proto::QModel& description,
                  TensorList& out) {
  const LlmInt8Parts parts = llm_int8_parts(module);
  proto::Layer* layer = description.add_layers();
  layer->set_name(name);
  layer->set_kind(proto::Layer::LINEAR);
  layer->set_in_features(module.in_features());
  layer->set_out_features(module.out_features());
  *layer->mutable_weight() = io::to_proto(module.weight_fake_quant().spec());
  proto::InputQuant* input = layer->mutable_input();
  *input->mutable_spec() = io::to_proto(module.input_fake_quant().spec());
  input->set_static_scale(false);
  layer->set_llm_int8(true);
  layer->set_outlier_threshold(module.input_fake_quant().threshold());
  layer->set_has_bias(parts.bias.defined());

  out.add(name + ".outlier_columns", parts.outlier_columns);
  out.add_f32(name + ".outlier_weight", parts.outlier_weight);
  out.add(name + ".weight_codes", parts.regular_weight_codes);
  out.add(name + ".weight_scale", parts.weight_scale.contiguous().reshape({module.out_features()}));
  if (parts.bias.defined()) out.add_f32(name + ".bias", parts.bias);
}

bool under(const std::string& name, const std::vector<std::string>& prefixes) {
  for (const std::string& p : prefixes) {
    if (name.size() > p.size() && name.compare(0, p.size(), p) == 0 && name[p.size()] == '.') {
      return true;
    }
  }
  return false;
}

bool has_twins(nn::Module& root) {
  for (auto& [name, module] : root.named_modules()) {
    if (dynamic_cast<QuantTwin*>(module) != nullptr || dynamic_cast<QuantEmbedding*>(module))
      return true;
  }
  return false;
}

}  // namespace

proto::QModel describe_model(const models::Cnn& model, const ExportOptions& options) {
  proto::QModel d;
  d.set_format_version(io::kQModelFormatVersion);
  const models::CnnConfig& c = model.config();
  proto::CnnArch* arch = d.mutable_cnn();
  arch->set_channels1(c.channels1);
  arch->set_channels2(c.channels2);
  arch->set_hidden(c.hidden);
  arch->set_classes(c.classes);
  arch->set_image_size(28);  // Cnn::forward takes 28x28 images only
  *d.mutable_provenance() = options.provenance;
  *d.mutable_tokenizer() = options.tokenizer;
  if (d.tokenizer().kind().empty()) d.mutable_tokenizer()->set_kind("labels");
  return d;
}

proto::QModel describe_model(const models::LanguageModel& model, const ExportOptions& options) {
  proto::QModel d;
  d.set_format_version(io::kQModelFormatVersion);
  const models::GptConfig& c = model.config();
  const bool llama = dynamic_cast<const models::Llama*>(&model) != nullptr;
  proto::TransformerArch* arch = d.mutable_transformer();
  arch->set_family(llama ? proto::TransformerArch::LLAMA : proto::TransformerArch::GPT);
  arch->set_vocab(c.vocab);
  arch->set_block(c.block);
  arch->set_layers(c.layers);
  arch->set_heads(c.heads);
  arch->set_dim(c.dim);
  // The width the blocks were built with, read off the first MLP weight so this can never
  // disagree with the models' own default rule.
  int64_t hidden = c.mlp_hidden;
  if (c.layers > 0) {
    hidden = model.parameter(llama ? "blocks.0.up.weight" : "blocks.0.fc.weight").size(0);
  }
  arch->set_mlp_hidden(hidden);
  *d.mutable_provenance() = options.provenance;
  *d.mutable_tokenizer() = options.tokenizer;
  if (d.tokenizer().kind().empty()) d.mutable_tokenizer()->set_kind("bytes");
  return d;
}

uint64_t export_qmodel(nn::Module& model, proto::QModel description, const std::string& path) {
  OCTET_CHECK(description.arch_case() != proto::QModel::ARCH_NOT_SET, "export", path,
              ": the description has no architecture (start from describe_model)");
  NoGradGuard no_grad;
  description.set_format_version(io::kQModelFormatVersion);
  description.clear_layers();
  description.clear_skipped_layers();
  if (description.provenance().created_utc().empty()) {
    description.mutable_provenance()->set_created_utc(utc_now());
  }

  std::map<std::string, ConvertedLayer> converted;
  if (has_twins(model)) {
    for (ConvertedLayer& c : convert(model)) converted.emplace(c.name, std::move(c));
  }
  TensorList tensors;
  std::vector<std::string> quantized;  // layer names: their parameters are written as parts
  for (auto& [name, module] : model.named_modules()) {
    if (under(name, quantized)) continue;
    if (auto it = converted.find(name); it != converted.end()) {
      add_twin(it->second, description, tensors);
      quantized.push_back(name);
    } else if (auto* llm = dynamic_cast<LlmInt8Linear*>(module)) {
      add_llm_int8(name, *llm, description, tensors);
      quantized.push_back(name);
    } else if (dynamic_cast<PreparedLayer*>(module) == nullptr &&
               (dynamic_cast<nn::Linear*>(module) != nullptr ||
                dynamic_cast<nn::Conv2d*>(module) != nullptr)) {
      description.add_skipped_layers(name);
    }
  }
  // An unquantized model is exported only when asked for by name: the FP32 baseline the runtime
  // measures the quantized models against. Anything else without quantized layers is a mistake.
  OCTET_CHECK(!quantized.empty() || description.provenance().method() == "fp32", "export", path,
              ": the model holds no quantized layers: run prepare (QAT) or prepare_llm_int8 / "
              "calibrate (PTQ) first, or set provenance.method to \"fp32\" for a baseline");
  for (const auto& [name, param] : model.named_parameters()) {
    if (!under(name, quantized)) tensors.add_f32(name, param);
  }

  std::string header;
  OCTET_CHECK(description.SerializeToString(&header), "export", path,
              ": cannot serialize the model description");
  io::write_archive(path, tensors.views(), {{io::kQModelMetadataKey, header}});
  return std::filesystem::file_size(path);
}

}  // namespace octet::qat
