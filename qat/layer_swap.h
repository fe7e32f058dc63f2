#pragma once
// The one walk that swaps a model's layers for quantized ones (qat::prepare, prepare_llm_int8).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/nn/module.h"

namespace octet::qat {

// Marks a layer that a prepare step put in place, so preparing twice is caught.
class PreparedLayer {
 public:
  virtual ~PreparedLayer() = default;
};

// Returns the replacement for the layer at `name`, or null to leave it (and walk into it).
using LayerReplacer =
    std::function<std::shared_ptr<nn::Module>(const std::string& name, nn::Module& layer)>;

// Depth first over the tree below `root`, skipping (not descending into) layers whose dotted
// name contains any of `skip`. The walk holds its own references to the children it visits and
// never descends into a layer it replaced, whose old module may be gone. Throws naming `op` and
// the layer when it meets a PreparedLayer. Returns the swapped names in tree order.
std::vector<std::string> swap_layers(nn::Module& root, const std::vector<std::string>& skip,
                                     const char* op, const LayerReplacer& replace);

}  // namespace octet::qat
