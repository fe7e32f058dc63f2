#pragma once
// The QatConfig a comparison experiment (cnn_experiment.h, lm_experiment.h) prepares a row's
// model with: the caller's hook (e.g. a recipe's skip list and FP8 scaling), else the scheme's
// defaults, today's behaviour.
#include <functional>
#include <string>

#include "framework/nn/module.h"
#include "qat/prepare.h"

namespace octet::qat {

// Builds the QatConfig of a scheme; empty means QatConfig{scheme_config(scheme)}.
using QatConfigFor = std::function<QatConfig(const std::string& scheme)>;

// config_for(scheme) when set, else QatConfig{scheme_config(scheme)}. Throws naming `area` when a
// skip pattern matches no parameter of `model` (a typo would otherwise quantize the layer it
// meant to keep); "lm_head", the default, is exempt because the CNN has none.
QatConfig experiment_config(const QatConfigFor& config_for, const std::string& scheme,
                            const nn::Module& model, const std::string& area);

}  // namespace octet::qat
