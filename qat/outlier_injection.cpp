#include "qat/outlier_injection.h"

#include <cmath>

#include "framework/nn/layers.h"
#include "qat/smoothquant.h"

namespace octet::qat {

void inject_outlier_features(nn::Module& gpt, const std::vector<int64_t>& dims, double factor) {
  const char* op = "inject_outlier_features";
  OCTET_CHECK(std::isfinite(factor) && factor > 0, op, "factor must be positive and finite, got ",
              factor);
  const std::vector<SmoothGroup> groups = smooth_groups(gpt);
  OCTET_CHECK(!groups.empty(), op, "a ", gpt.type_name(),
              " has no Gpt or Llama blocks (norm -> linear) to inject outliers into");
  // Injection is smoothing run backwards: the norm is divided by s and the linears' columns
  // multiplied by it, so s = 1 / factor on the chosen dimensions and 1 elsewhere.
  const int64_t channels = gpt.parameter(groups.front().linears.front() + ".weight").size(1);
  std::vector<double> s(static_cast<size_t>(channels), 1.0);
  for (int64_t d : dims) {
    OCTET_CHECK(d >= 0 && d < channels, op, "dimension ", d, " is outside [0, ", channels, ")");
    OCTET_CHECK(s[d] == 1.0 || factor == 1.0, op, "dimension ", d, " is listed twice");
    s[d] = 1.0 / factor;
  }
  for (const SmoothGroup& g : groups) fold_channel_scales(gpt, g, s);
}

}  // namespace octet::qat
