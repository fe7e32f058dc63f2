#pragma once
// `octet compare cnn` and `octet compare lm`: the product's whole path in one command. The FP32
// model (trained, or for lm loaded from a checkpoint) is exported as the baseline .qmodel; every
// PTQ scheme and QAT with INT8 and FP8 go through the experiments of `octet qat`, each finished
// model is exported to <out-dir>/<method>_<scheme>.qmodel and evaluated by octet's runtime next
// to its fake-quant metric. Writes compare.md, compare.json and compare.svg (metric delta,
// runtime speed-up and file size per scheme) and prints the table; lm also prints a greedy
// continuation per exported model. Fails (after writing the files) when a runtime metric
// disagrees with its fake-quant model beyond 0.1 accuracy point or 1e-3 relative loss.
// `octet compare --recipe R [--set key=value]...` runs the same from a recipe, cnn or lm by its
// model (recipe_runs.h); compare_settings.h holds what either way fills in.
#include <CLI/CLI.hpp>
#include <functional>

namespace octet::tools {

// Registers `compare` with its subcommands under `app`; returns a function that runs the chosen
// one (returning the exit code) and -1 when `compare` was not chosen.
std::function<int()> add_compare_command(CLI::App& app);

}  // namespace octet::tools
