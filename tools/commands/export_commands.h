#pragma once
// `octet ptq` and `octet export`: from a trained FP32 checkpoint (`octet train cnn|lm --save`) to
// a checked .qmodel. The model is rebuilt from the checkpoint's architecture metadata (flags may
// override it), prepared for a scheme, calibrated on training batches, for `export` fine-tuned
// with fake-quant on (QAT), written, and then checked twice with the runtime:
//   what you train is what you deploy  runtime vs the fake-quant model: logits relative error
//                                      <= 1e-3 and arg-max agreement >= 99.9%, else it fails
//   sanity against FP32                runtime vs the same model with fake-quant off: a collapsed
//                                      export fails naming the first layer whose error exploded
// With --recipe R [--set key=value]..., the recipe gives every setting no flag gives: the
// checkpoint (checkpoint.path), calibration, batch, fine-tuning, and the QatConfig of the scheme
// (quantization.skip, quantization.fp8, the observer freeze step during QAT).
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace octet::tools {

// Every --scheme the two commands accept: "fp32" (the unquantized baseline), qat::scheme_names(),
// "llm_int8" and "smoothquant" (alpha 0.5 folded into the norms, then w8a8; language models only).
std::vector<std::string> export_scheme_names();

// Each registers its subcommand under `app` and returns a function that runs it if it was chosen
// (returning the exit code) and -1 otherwise. Failures throw octet::Error naming the file.
std::function<int()> add_ptq_command(CLI::App& app);
std::function<int()> add_export_command(CLI::App& app);

}  // namespace octet::tools
