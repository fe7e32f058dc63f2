#pragma once
// Runs a command line as a job of `ranks` ranks under mpirun (tests/dist/*_job_test.cpp), with
// `timeout` as the test's own guard: a hang shows up as exit code 124 instead of a stuck test.
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>

namespace octet::testing {

struct JobResult {
  int exit_code = -1;  // 128 + signal when a signal ended it
  double seconds = 0;
  std::string output;  // stdout and stderr of every rank, interleaved
};

inline JobResult run_mpirun_job(const std::string& command_line, int ranks = 2,
                                int timeout_seconds = 240) {
  const std::string cmd = "timeout " + std::to_string(timeout_seconds) + " " OCTET_MPIEXEC " -np " +
                          std::to_string(ranks) + " --oversubscribe " + command_line + " 2>&1";
  const auto t0 = std::chrono::steady_clock::now();
  JobResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 512> buf{};
  while (fgets(buf.data(), buf.size(), pipe)) r.output += buf.data();
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace octet::testing
