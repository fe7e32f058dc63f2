#pragma once
// Module: a named tree of parameters, buffers and child modules ("blocks.3.attn.qkv.weight"),
// with train/eval mode. Children are reached through Child<M> handles that look the slot up on
// each use, so qat's prepare can swap a Linear for its fake-quant twin in place and the parent's
// forward picks the twin up without knowing about it.
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "framework/tensor/tensor.h"

namespace octet::nn {

class Module;
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

template <typename M>
class Child {
 public:
  Child() = default;
  Child(Module* parent, size_t slot) : parent_(parent), slot_(slot) {}
  M* get() const;
  M* operator->() const { return get(); }
  M& operator*() const { return *get(); }

 private:
  Module* parent_ = nullptr;
  size_t slot_ = 0;
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual std::string type_name() const = 0;

  NamedTensors named_parameters() const;  // recursive, in registration order
  NamedTensors named_buffers() const;
  std::vector<Tensor> parameters() const;
  // Every module of the tree with its dotted path ("" for this one), parents before children.
  std::vector<std::pair<std::string, Module*>> named_modules();
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }
  Tensor parameter(const std::string& dotted_name) const;  // throws naming the missing name

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();
  int64_t num_parameters() const;

  // Swaps the child at `name` (a direct child) for `replacement`, which must be of a type the
  // slot was registered with (e.g. a subclass of Linear for a Linear slot).
  void replace_child(const std::string& name, std::shared_ptr<Module> replacement);
  std::shared_ptr<Module> child(const std::string& name) const;

  // Copies values (not identity) from `src` into this module's parameters and buffers by name;
  // `src` may live on another device.
  void load_state(const NamedTensors& src);

  // Moves every parameter and buffer of the tree, with its gradient, to `device` in place (see
  // move_in_place): requires_grad, names and the Tensor handles held elsewhere (an optimizer's
  // parameter list, a tied weight) stay valid, so an optimizer built before .to() keeps working.
  // Tensors a module keeps outside its parameters and buffers are not moved.
  void to(const Device& device);

 protected:
  Tensor& register_parameter(const std::string& name, Tensor value);
  Tensor& register_buffer(const std::string& name, Tensor value);
  template <typename M>
  Child<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, std::move(module),
              [](const Module* m) { return dynamic_cast<const M*>(m) != nullptr; });
    return Child<M>(this, children_.size() - 1);
  }

 private:
  template <typename M>
  friend class Child;
  void add_child(const std::string& name, std::shared_ptr<Module> module,
                 std::function<bool(const Module*)> accepts);
  void collect(const std::string& prefix, bool params, NamedTensors& out) const;

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::vector<std::function<bool(const Module*)>> accepts_;
  bool training_ = true;
};

template <typename M>
M* Child<M>::get() const {
  return static_cast<M*>(parent_->children_[slot_].second.get());
}

// Moves each tensor's data (and its .grad) to `device` by swapping the storage under its
// TensorImpl: offsets and strides are kept, and tensors that shared a storage (views, tied
// weights) share the moved one. Views made of these tensors before the move (a detach(), a
// slice) keep the old storage.
void move_in_place(const std::vector<Tensor>& tensors, const Device& device);

// A numbered list of children ("blocks.0", "blocks.1", ...).
template <typename M>
class ModuleList : public Module {
 public:
  std::string type_name() const override { return "ModuleList"; }
  void push_back(std::shared_ptr<M> m) {
    items_.push_back(register_module(std::to_string(items_.size()), std::move(m)));
  }
  M& operator[](size_t i) const { return *items_.at(i); }
  size_t size() const { return items_.size(); }

 private:
  std::vector<Child<M>> items_;
};

}  // namespace octet::nn
