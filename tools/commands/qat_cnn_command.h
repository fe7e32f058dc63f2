#pragma once
// `octet qat cnn`: the Fashion-MNIST FP32 / PTQ / QAT comparison over several fine-tuning seeds,
// printed and written as a markdown table with means, spreads and paired differences.
#include <CLI/CLI.hpp>

namespace octet::tools {

// Registers the subcommand under `parent`; returns a function that runs it if it was chosen
// (returning the exit code) and -1 otherwise.
std::function<int()> add_qat_cnn_command(CLI::App& parent);

}  // namespace octet::tools
