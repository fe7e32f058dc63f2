#pragma once
// Commands on exported models (.qmodel files).
#include <CLI/CLI.hpp>
#include <functional>

namespace octet::tools {

// `octet inspect model.qmodel [--verify]`: architecture, provenance, tokenizer, the quantized
// layers as a table, skipped layers, f32 tensors and the size against f32. Registers the
// subcommand under `app` and returns a function that runs it if it was chosen (returning the exit
// code) and -1 otherwise.
std::function<int()> add_inspect_command(CLI::App& app);

}  // namespace octet::tools
