#include "framework/io/checkpoint.h"

#include <cstring>

#include "framework/io/archive.h"
#include "ops/device_copy.h"

namespace octet::io {
namespace {

constexpr const char* kParam = "param/";
constexpr const char* kBuffer = "buffer/";
constexpr const char* kOptim = "optim/";
constexpr const char* kRng = "rng/";
constexpr const char* kMeta = "meta/";

std::string encode_state(const Generator::State& s) {
  return std::string(reinterpret_cast<const char*>(s.data()), sizeof(s));
}

void restore(const Archive& archive, const std::string& name, const Tensor& dst) {
  OCTET_CHECK(archive.contains(name), "checkpoint", archive.path(), ": tensor '", name,
              "' missing");
  OCTET_CHECK(archive.shape(name) == dst.shape() && archive.dtype(name) == dst.dtype(),
              "checkpoint", archive.path(), ": tensor '", name, "' is ",
              dtype_name(archive.dtype(name)), shape_str(archive.shape(name)),
              " but the model expects ", dst.str());
  copy_any(archive.view(name), dst.view());
}

// The archive writer reads host memory: a tensor on a GPU is copied to the host first, and the
// copy is kept alive in `hold` until the archive is written.
View host_view(const Tensor& t, std::vector<Tensor>& hold) {
  if (t.device().type == DeviceType::cpu) return t.view();
  hold.push_back(t.detach().contiguous().cpu());
  return hold.back().view();
}

}  // namespace

void save_checkpoint(const std::string& path, const TrainingState& state) {
  OCTET_CHECK(state.model != nullptr, "checkpoint", path, ": no model to save");
  std::vector<NamedView> tensors;
  std::vector<Tensor> hold;
  for (const auto& [name, t] : state.model->named_parameters())
    tensors.push_back({kParam + name, host_view(t, hold)});
  for (const auto& [name, t] : state.model->named_buffers())
    tensors.push_back({kBuffer + name, host_view(t, hold)});
  std::map<std::string, std::string> meta;
  if (state.optimizer) {
    for (const auto& [name, t] : state.optimizer->state())
      tensors.push_back({kOptim + name, host_view(t, hold)});
    meta["optim_steps"] = std::to_string(state.optimizer->steps());
  }
  for (const auto& [name, gen] : state.generators) meta[kRng + name] = encode_state(gen->state());
  for (const auto& [k, v] : state.metadata) meta[kMeta + k] = v;
  meta["step"] = std::to_string(state.step);
  meta["model"] = state.model->type_name();
  write_archive(path, tensors, meta);
}

void load_checkpoint(const std::string& path, TrainingState& state) {
  OCTET_CHECK(state.model != nullptr, "checkpoint", path, ": no model to load into");
  Archive archive = Archive::open(path);
  const auto& meta = archive.metadata();
  auto get = [&](const std::string& key) -> const std::string& {
    auto it = meta.find(key);
    OCTET_CHECK(it != meta.end(), "checkpoint", path, ": metadata '", key, "' missing");
    return it->second;
  };
  OCTET_CHECK(get("model") == state.model->type_name(), "checkpoint", path, ": holds a ",
              get("model"), ", not a ", state.model->type_name());
  for (const auto& [name, t] : state.model->named_parameters()) restore(archive, kParam + name, t);
  for (const auto& [name, t] : state.model->named_buffers()) restore(archive, kBuffer + name, t);
  if (state.optimizer) {
    for (const auto& [name, t] : state.optimizer->state()) restore(archive, kOptim + name, t);
    state.optimizer->set_steps(std::stoll(get("optim_steps")));
  }
  for (auto& [name, gen] : state.generators) {
    const std::string& bytes = get(kRng + name);
    Generator::State s;
    OCTET_CHECK(bytes.size() == sizeof(s), "checkpoint", path, ": rng state '", name, "' has ",
                bytes.size(), " bytes, expected ", sizeof(s));
    std::memcpy(s.data(), bytes.data(), sizeof(s));
    gen->set_state(s);
  }
  state.metadata.clear();
  for (const auto& [k, v] : meta)
    if (k.rfind(kMeta, 0) == 0) state.metadata[k.substr(std::strlen(kMeta))] = v;
  state.step = std::stoll(get("step"));
}

int64_t load_model_weights(const std::string& path, nn::Module& model) {
  Archive archive = Archive::open(path);
  const auto& meta = archive.metadata();
  const auto model_type = meta.find("model");
  OCTET_CHECK(model_type != meta.end() && model_type->second == model.type_name(), "checkpoint",
              path, ": holds a ", model_type == meta.end() ? "(no model)" : model_type->second,
              ", not a ", model.type_name());
  std::map<std::string, Tensor> mine;
  for (const auto& [name, t] : model.named_parameters()) mine[kParam + name] = t;
  for (const auto& [name, t] : model.named_buffers()) mine[kBuffer + name] = t;
  int64_t loaded = 0;
  for (const std::string& name : archive.names()) {
    if (name.rfind(kParam, 0) != 0 && name.rfind(kBuffer, 0) != 0) continue;
    auto it = mine.find(name);
    OCTET_CHECK(it != mine.end(), "checkpoint", path, ": tensor '", name, "' has no place in the ",
                model.type_name());
    restore(archive, name, it->second);
    ++loaded;
  }
  return loaded;
}

std::map<std::string, std::string> checkpoint_metadata(const std::string& path) {
  const Archive archive = Archive::open(path);
  std::map<std::string, std::string> meta;
  for (const auto& [k, v] : archive.metadata())
    if (k.rfind(kMeta, 0) == 0) meta[k.substr(std::strlen(kMeta))] = v;
  return meta;
}

double metadata_number(const std::map<std::string, std::string>& metadata, const std::string& key,
                       const std::string& source) {
  const auto it = metadata.find(key);
  OCTET_CHECK(it != metadata.end(), "checkpoint", source, ": metadata '", key,
              "' missing (was it saved by `octet train ... --save`?)");
  try {
    size_t used = 0;
    const double v = std::stod(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  throw Error("checkpoint",
              source + ": metadata '" + key + "' is '" + it->second + "', not a number");
}

}  // namespace octet::io
