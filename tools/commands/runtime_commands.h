#pragma once
// `octet eval` and `octet generate`: run an exported .qmodel on octet's quantized runtime.
#include <CLI/CLI.hpp>
#include <functional>

namespace octet::tools {

// Each registers its subcommand under `app` and returns a function that runs it if it was chosen
// (returning the exit code) and -1 otherwise.
std::function<int()> add_eval_command(CLI::App& app);
std::function<int()> add_generate_command(CLI::App& app);

}  // namespace octet::tools
