// A job for failure_job_test: every rank enters a loop of all-reduces; the rank named by the first
// argument fails at the third, by throwing (`throw`), by dying of SIGKILL (`kill`), or by hanging
// outside any collective (`hang`: it sleeps for ten minutes), while its peers wait in the next
// collective. A correct launcher (or, for a hang, the collective watchdog) ends the whole job
// non-zero.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "distributed/launch.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: failing_rank_probe <rank> throw|kill|hang" << std::endl;
    return 2;
  }
  const int failing = std::atoi(argv[1]);
  const bool kill = std::strcmp(argv[2], "kill") == 0;
  const bool hang = std::strcmp(argv[2], "hang") == 0;
  return octet::distributed::run_guarded([&] {
    octet::parallel::Communicator& w = *octet::distributed::init_world(1);
    for (int step = 0; step < 1000; ++step) {
      if (step == 3 && w.rank() == failing) {
        if (kill) std::raise(SIGKILL);
        if (hang) std::this_thread::sleep_for(std::chrono::minutes(10));
        throw octet::Error("probe", "injected failure at step " + std::to_string(step));
      }
      octet::Tensor t = octet::Tensor::full({4}, 1.0);
      w.allreduce(t, octet::parallel::ReduceOp::kSum);
    }
    return 0;
  });
}
