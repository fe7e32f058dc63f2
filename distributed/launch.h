#pragma once
// Starting a job the same way with or without mpirun: `octet ...` runs as one process,
// `mpirun -np N octet ...` as N ranks, multi-node the same command with -H or a hostfile.
//
// init_world() reads the launcher's environment (Open MPI's OMPI_COMM_WORLD_*, or PMI/PMIx
// variables of other launchers): when it finds a job of several ranks it installs the MPI
// communicator as parallel::world(), else the single-process one. On the CPU, ranks share the
// machine's cores: unless OMP_NUM_THREADS or an explicit count says otherwise, each rank takes
// cores / ranks-on-this-node threads.
//
// run_guarded() is the failure rule: a rank that throws prints "octet: rank R of N: reason" and
// aborts the whole job (MPI_Abort, exit code 1), so no rank waits forever in a collective its
// peer will never join. mpirun itself ends the job when a rank dies of a signal, and the
// collective watchdog (collective_watchdog.h) when a rank stops calling collectives.
#include <functional>
#include <memory>
#include <string>

#include "framework/parallel/communicator.h"

namespace octet::distributed {

struct LaunchInfo {
  int rank = 0, size = 1;              // in the job
  int local_rank = 0, local_size = 1;  // on this node (GPU choice, threads per rank)
  bool under_launcher = false;         // mpirun (or another PMI launcher) started this process
};

// What the environment says, without initialising anything.
LaunchInfo launch_info_from_environment();

// Installs parallel::world() for this process and sets the CPU threads per rank (`threads` > 0:
// that many; else OMP_NUM_THREADS if set; else cores / local_size). `backend`: "auto" (MPI when
// launched as several ranks, else single process), "mpi", or "nccl" (one GPU per local rank; throws when this build has no
// NCCL or no GPU is visible). Safe to call again: later calls return the installed world.
std::shared_ptr<parallel::Communicator> init_world(int threads = 0,
                                                   const std::string& backend = "auto");

// Runs `body` and returns its exit code. If it throws, reports the rank and reason on stderr;
// in a job of several ranks it then calls MPI_Abort so every rank exits non-zero promptly.
int run_guarded(const std::function<int()>& body);

}  // namespace octet::distributed
