#include "qat/layer_swap.h"

namespace octet::qat {
namespace {

bool contains_any(const std::string& name, const std::vector<std::string>& fragments) {
  for (const std::string& f : fragments) {
    if (!f.empty() && name.find(f) != std::string::npos) return true;
  }
  return false;
}

void walk(nn::Module& parent, const std::string& prefix, const std::vector<std::string>& skip,
          const char* op, const LayerReplacer& replace, std::vector<std::string>& swapped) {
  // A copy: replace_child changes the parent's list while we walk it.
  const std::vector<std::pair<std::string, std::shared_ptr<nn::Module>>> children =
      parent.children();
  for (const auto& [child_name, child] : children) {
    const std::string name = prefix.empty() ? child_name : prefix + "." + child_name;
    OCTET_CHECK(dynamic_cast<PreparedLayer*>(child.get()) == nullptr, op, "layer '", name,
                "' is already a ", child->type_name(), ": the model was prepared before");
    if (contains_any(name, skip)) continue;
    if (std::shared_ptr<nn::Module> replacement = replace(name, *child)) {
      parent.replace_child(child_name, std::move(replacement));
      swapped.push_back(name);
    } else {
      walk(*child, name, skip, op, replace, swapped);
    }
  }
}

}  // namespace

std::vector<std::string> swap_layers(nn::Module& root, const std::vector<std::string>& skip,
                                     const char* op, const LayerReplacer& replace) {
  std::vector<std::string> swapped;
  walk(root, "", skip, op, replace, swapped);
  return swapped;
}

}  // namespace octet::qat
