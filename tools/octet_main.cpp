// The octet command line. Library code throws octet::Error; this is the one place that catches
// it, prints it and exits: 2 for usage errors (CLI11's parse errors, tools::UsageError: a bad
// flag, recipe or --set), 1 for failures while running.
//
// Under mpirun every rank runs this same main. train, compare and qat train data-parallel across
// the ranks (framework/parallel/); the commands that only read a checkpoint or a model file
// (inspect, ptq, export, eval, generate) run on rank 0 alone. Only rank 0 prints to stdout; a
// rank that fails prints its rank and reason to stderr and aborts the job (distributed/launch.h).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>

#include "distributed/launch.h"
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
  app.add_option(
      "--threads", threads,
      "CPU threads per rank (default: the node's cores / its ranks, or OMP_NUM_THREADS)");
  std::string backend = "auto";
  app.add_option("--backend", backend,
                 "collectives under mpirun: auto (MPI), mpi, or nccl (one GPU per local rank)")
      ->check(CLI::IsMember({"auto", "mpi", "nccl"}))
      ->capture_default_str();

  std::vector<std::function<int()>> distributed_commands, rank_zero_commands;
  distributed_commands.push_back(octet::tools::add_train_command(app));
  auto* qat = app.add_subcommand("qat", "quantization-aware training and its comparisons");
  qat->require_subcommand(1);
  distributed_commands.push_back(octet::tools::add_qat_cnn_command(*qat));
  distributed_commands.push_back(octet::tools::add_qat_lm_command(*qat));
  rank_zero_commands.push_back(octet::tools::add_inspect_command(app));
  rank_zero_commands.push_back(octet::tools::add_ptq_command(app));
  rank_zero_commands.push_back(octet::tools::add_export_command(app));
  rank_zero_commands.push_back(octet::tools::add_eval_command(app));
  rank_zero_commands.push_back(octet::tools::add_generate_command(app));
  distributed_commands.push_back(octet::tools::add_compare_command(app));

  app.footer(
      "Recipes: octet train|compare --recipe recipes/<name>.textproto [--set key.path=value]...\n"
      "Several ranks: mpirun -np N octet train|compare|qat ... (data-parallel; the other commands "
      "run on rank 0).\n"
      "Exit codes: 0 success; 1 a failure while running (data, training, export checks); 2 a "
      "usage error (an unknown or malformed flag, a malformed or invalid recipe, a bad --set).");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0; every other parse error is a usage
    // error, whatever CLI11's own code for it (105-114).
    return app.exit(e) == 0 ? 0 : 2;
  }
  // Failures while running reach run_guarded, which names the rank and aborts a job of several.
  return octet::distributed::run_guarded([&]() -> int {
    octet::parallel::Communicator& world = *octet::distributed::init_world(threads, backend);
    if (!world.is_root()) std::freopen("/dev/null", "w", stdout);  // rank 0 reports
    try {
      for (const auto& run : distributed_commands)
        if (const int rc = run(); rc >= 0) return rc;
      if (world.size() > 1) {
        if (!world.is_root()) return 0;
        octet::parallel::set_world(std::make_shared<octet::parallel::SingleProcessCommunicator>());
      }
      for (const auto& run : rank_zero_commands)
        if (const int rc = run(); rc >= 0) return rc;
    } catch (const octet::tools::UsageError& e) {
      std::cerr << "octet: " << e.what() << std::endl;
      return 2;
    }
    return 0;
  });
}
