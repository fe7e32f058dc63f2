// When one rank fails, the whole job ends non-zero, promptly, saying which rank and why: never a
// silent hang. Launches tests/dist/failing_rank_probe as 2 ranks under mpirun.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>

namespace {

struct JobResult {
  int exit_code = -1;
  double seconds = 0;
  std::string output;
};

JobResult run_job(const std::string& args) {
  // `timeout` is the test's own guard: a hang shows up as exit code 124 after 90 s.
  const std::string cmd = "timeout 90 " OCTET_MPIEXEC " -np 2 --oversubscribe " OCTET_TEST_BIN_DIR
                          "/failing_rank_probe " +
                          args + " 2>&1";
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

TEST(FailingRank, AThrowingRankAbortsTheJobWithItsReason) {
  const JobResult r = run_job("1 throw");
  std::printf("%s(exit %d after %.1f s)\n", r.output.c_str(), r.exit_code, r.seconds);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 124) << "the job hung";
  EXPECT_LT(r.seconds, 60.0);
  EXPECT_NE(r.output.find("rank 1 of 2"), std::string::npos);
  EXPECT_NE(r.output.find("injected failure at step 3"), std::string::npos);
}

TEST(FailingRank, ARankKilledBySignalEndsTheJob) {
  const JobResult r = run_job("0 kill");
  std::printf("%s(exit %d after %.1f s)\n", r.output.c_str(), r.exit_code, r.seconds);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 124) << "the job hung";
  EXPECT_LT(r.seconds, 60.0);
}

TEST(FailingRank, AHealthyJobExitsZero) {
  const JobResult r = run_job("5 throw");  // no rank 5: nobody fails
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

}  // namespace
