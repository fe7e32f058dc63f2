#pragma once
// `octet qat cnn` and `octet qat lm`: the FP32 / PTQ / QAT comparisons over several fine-tuning
// seeds, printed and written as markdown tables with means, spreads and paired differences.
#include <CLI/CLI.hpp>
#include <functional>

namespace octet::tools {

// Each registers its subcommand under `parent` and returns a function that runs it if it was
// chosen (returning the exit code) and -1 otherwise.
std::function<int()> add_qat_cnn_command(CLI::App& parent);
std::function<int()> add_qat_lm_command(CLI::App& parent);

}  // namespace octet::tools
