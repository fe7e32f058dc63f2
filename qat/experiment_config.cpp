#include "qat/experiment_config.h"

#include <algorithm>

#include "ops/error.h"
#include "qat/schemes.h"

namespace octet::qat {

QatConfig experiment_config(const QatConfigFor& config_for, const std::string& scheme,
                            const nn::Module& model, const std::string& area) {
  QatConfig config;
  if (config_for)
    config = config_for(scheme);
  else
    config.layers = scheme_config(scheme);
  const nn::NamedTensors params = model.named_parameters();
  for (const std::string& pattern : config.skip) {
    const bool found = std::any_of(params.begin(), params.end(), [&](const auto& p) {
      return p.first.find(pattern) != std::string::npos;
    });
    OCTET_CHECK(found || pattern == "lm_head", area, scheme, ": skip pattern '", pattern,
                "' matches no layer of the model");
  }
  return config;
}

}  // namespace octet::qat
