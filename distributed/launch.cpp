#include "distributed/launch.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "distributed/mpi_communicator.h"
#include "distributed/nccl_communicator.h"
#include "ops/cpu/gemm.h"

namespace octet::distributed {
namespace {

// The first of `names` that is set, as an int; -1 when none is.
int env_int(std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (const char* v = std::getenv(name); v && *v) return std::atoi(v);
  }
  return -1;
}

std::mutex g_init_mutex;
bool g_initialized = false;

}  // namespace

LaunchInfo launch_info_from_environment() {
  LaunchInfo info;
  const int size = env_int({"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"});
  if (size < 1) return info;
  info.under_launcher = true;
  info.size = size;
  info.rank = std::max(0, env_int({"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"}));
  const int local_size = env_int({"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"});
  const int local_rank = env_int({"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID"});
  info.local_size = local_size > 0 ? local_size : size;
  info.local_rank = local_rank >= 0 ? local_rank : info.rank % info.local_size;
  return info;
}

std::shared_ptr<parallel::Communicator> init_world(int threads, const std::string& backend) {
  std::lock_guard<std::mutex> lock(g_init_mutex);
  if (g_initialized) return parallel::world_ptr();
  const LaunchInfo info = launch_info_from_environment();
  if (backend == "nccl") {
#ifdef OCTET_WITH_NCCL
    MpiCommunicator bootstrap;
    parallel::set_world(make_nccl_communicator(bootstrap, info.local_rank));
#else
    throw Error("launch",
                "this build of octet has no NCCL backend (the CUDA toolkit's NCCL was "
                "not found at configure time)");
#endif
  } else if (backend == "mpi" || (backend == "auto" && info.under_launcher && info.size > 1)) {
    parallel::set_world(std::make_shared<MpiCommunicator>());
  } else {
    OCTET_CHECK(backend == "auto", "launch", "unknown backend '", backend,
                "' (expected auto, mpi or nccl)");
  }
  if (threads <= 0 && env_int({"OMP_NUM_THREADS"}) <= 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::max(1, cores / info.local_size);
  }
  if (threads > 0) cpu::set_num_threads(threads);
  g_initialized = true;
  return parallel::world_ptr();
}

int run_guarded(const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    const parallel::Communicator& w = parallel::world();
    if (w.size() > 1) {
      std::cerr << "octet: rank " << w.rank() << " of " << w.size() << ": " << e.what()
                << "; aborting the job" << std::endl;
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    std::cerr << "octet: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace octet::distributed
