#include "framework/nn/module.h"

#include <unordered_map>

#include "framework/tensor/autograd.h"
#include "ops/cpu/copy.h"
#include "ops/cuda/runtime.h"
#include "ops/device_copy.h"

namespace octet::nn {

Tensor& Module::register_parameter(const std::string& name, Tensor value) {
  OCTET_CHECK(name.find('.') == std::string::npos, "module", "parameter name '", name,
              "' must not contain '.'");
  value.set_requires_grad(true);
  params_.emplace_back(name, std::move(value));
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor value) {
  buffers_.emplace_back(name, std::move(value));
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module,
                       std::function<bool(const Module*)> accepts) {
  OCTET_CHECK(module != nullptr, "module", "child '", name, "' is null");
  for (const auto& [n, m] : children_)
    OCTET_CHECK(n != name, "module", "child '", name, "' registered twice");
  children_.emplace_back(name, std::move(module));
  accepts_.push_back(std::move(accepts));
}

void Module::collect(const std::string& prefix, bool params, NamedTensors& out) const {
  for (const auto& [name, t] : params ? params_ : buffers_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", params, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (const auto& [name, child] : children_)
    for (auto& [sub, m] : child->named_modules())
      out.emplace_back(sub.empty() ? name : name + "." + sub, m);
  return out;
}

Tensor Module::parameter(const std::string& dotted_name) const {
  for (const auto& [name, t] : named_parameters())
    if (name == dotted_name) return t;
  throw Error("module", type_name() + " has no parameter '" + dotted_name + "'");
}

void Module::train(bool on) {
  training_ = on;
  for (const auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (auto& t : parameters()) t.zero_grad();
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& t : parameters()) n += t.numel();
  return n;
}

void Module::replace_child(const std::string& name, std::shared_ptr<Module> replacement) {
  for (size_t i = 0; i < children_.size(); ++i) {
    if (children_[i].first != name) continue;
    OCTET_CHECK(replacement && accepts_[i](replacement.get()), "module", "cannot put a ",
                replacement ? replacement->type_name() : "null", " into slot '", name, "' of a ",
                type_name(), " (holds a ", children_[i].second->type_name(), ")");
    replacement->train(training_);
    children_[i].second = std::move(replacement);
    return;
  }
  throw Error("module", type_name() + " has no child '" + name + "'");
}

std::shared_ptr<Module> Module::child(const std::string& name) const {
  for (const auto& [n, m] : children_)
    if (n == name) return m;
  throw Error("module", type_name() + " has no child '" + name + "'");
}

void Module::load_state(const NamedTensors& src) {
  auto assign = [&](const NamedTensors& mine) {
    for (const auto& [name, dst] : mine) {
      const Tensor* found = nullptr;
      for (const auto& [n, t] : src)
        if (n == name) found = &t;
      OCTET_CHECK(found != nullptr, "module", "state has no tensor '", name, "'");
      OCTET_CHECK(found->shape() == dst.shape(), "module", "tensor '", name, "': shape ",
                  shape_str(found->shape()), " does not match the module's ",
                  shape_str(dst.shape()));
      if (found->device() == dst.device() && dst.device().type == DeviceType::cpu) {
        cpu::copy(found->view(), dst.view());
      } else {
        // Bytes cross devices as they are; a dtype conversion, if any, happens on dst's device.
        NoGradGuard no_grad;
        copy_any(found->contiguous().to(dst.device()).view(), dst.view());
      }
    }
  };
  assign(named_parameters());
  assign(named_buffers());
}

void Module::to(const Device& device) {
  std::vector<Tensor> all;
  for (const auto& [name, t] : named_parameters()) all.push_back(t);
  for (const auto& [name, t] : named_buffers()) all.push_back(t);
  move_in_place(all, device);
}

void move_in_place(const std::vector<Tensor>& tensors, const Device& device) {
  if (device.type == DeviceType::cuda) cuda::require(device, "to");
  // Old storage -> (old kept alive, so its address is not reused while the map lives; new).
  std::unordered_map<Storage*, std::pair<std::shared_ptr<Storage>, std::shared_ptr<Storage>>> moved;
  auto move_impl = [&](TensorImpl* impl) {
    const std::shared_ptr<Storage>& old = impl->storage;
    if (old->device() == device) return;
    auto& entry = moved[old.get()];
    if (!entry.second) {
      entry.first = old;
      entry.second = std::make_shared<Storage>(old->nbytes(), device);
      cuda::copy_bytes(entry.second->data(), device, old->data(), old->device(), old->nbytes());
    }
    impl->storage = entry.second;
  };
  for (const Tensor& t : tensors)
    if (t.defined()) move_impl(t.impl());
  for (const Tensor& t : tensors)
    if (t.defined() && t.impl()->grad) move_impl(t.impl()->grad.get());
}

}  // namespace octet::nn
