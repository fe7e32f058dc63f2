// The octet command line. Library code throws octet::Error; this is the one place that catches
// it, prints it and exits: 2 for usage errors (CLI11's parse errors, tools::UsageError: a bad
// flag, recipe or --set), 1 for failures while running.
#include <CLI/CLI.hpp>
#include <iostream>

#include "ops/cpu/gemm.h"
#include "tools/commands/compare_commands.h"
#include "tools/commands/export_commands.h"
#include "tools/commands/model_commands.h"
#include "tools/commands/qat_commands.h"
#include "tools/commands/runtime_commands.h"
#include "tools/commands/train_command.h"
#include "tools/commands/usage_error.h"

int main(int argc, char** argv) {
  CLI::App app{"octet: 8-bit deep learning, from training to deployment"};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "CPU threads (default: all cores)");

  const std::function<int()> run_train = octet::tools::add_train_command(app);

  auto* qat = app.add_subcommand("qat", "quantization-aware training and its comparisons");
  qat->require_subcommand(1);
  const std::function<int()> run_qat_cnn = octet::tools::add_qat_cnn_command(*qat);
  const std::function<int()> run_qat_lm = octet::tools::add_qat_lm_command(*qat);
  const std::function<int()> run_inspect = octet::tools::add_inspect_command(app);
  const std::function<int()> run_ptq = octet::tools::add_ptq_command(app);
  const std::function<int()> run_export = octet::tools::add_export_command(app);
  const std::function<int()> run_eval = octet::tools::add_eval_command(app);
  const std::function<int()> run_generate = octet::tools::add_generate_command(app);
  const std::function<int()> run_compare = octet::tools::add_compare_command(app);

  app.footer(
      "Recipes: octet train|compare --recipe recipes/<name>.textproto [--set key.path=value]...\n"
      "Exit codes: 0 success; 1 a failure while running (data, training, export checks); 2 a "
      "usage error (an unknown or malformed flag, a malformed or invalid recipe, a bad --set).");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0; every other parse error is a usage
    // error, whatever CLI11's own code for it (105-114).
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    if (threads > 0) octet::cpu::set_num_threads(threads);
    if (const int rc = run_train(); rc >= 0) return rc;
    if (const int rc = run_qat_cnn(); rc >= 0) return rc;
    if (const int rc = run_qat_lm(); rc >= 0) return rc;
    if (const int rc = run_inspect(); rc >= 0) return rc;
    if (const int rc = run_ptq(); rc >= 0) return rc;
    if (const int rc = run_export(); rc >= 0) return rc;
    if (const int rc = run_eval(); rc >= 0) return rc;
    if (const int rc = run_generate(); rc >= 0) return rc;
    if (const int rc = run_compare(); rc >= 0) return rc;
  } catch (const octet::tools::UsageError& e) {
    std::cerr << "octet: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "octet: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
