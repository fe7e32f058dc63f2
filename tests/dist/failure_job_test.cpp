// When one rank fails, the whole job ends non-zero, promptly, saying which rank and why: never a
// silent hang. Launches tests/dist/failing_rank_probe as 2 ranks under mpirun.
#include <gtest/gtest.h>

#include <string>

#include "../support/mpirun_job.h"

namespace {

using octet::testing::JobResult;

JobResult run_job(const std::string& args) {
  return octet::testing::run_mpirun_job(OCTET_TEST_BIN_DIR "/failing_rank_probe " + args, 2, 90);
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

TEST(FailingRank, ARankThatHangsIsCaughtByTheCollectiveWatchdog) {
  // Rank 1 sleeps outside any collective; rank 0 waits in an all-reduce until its watchdog (2 s
  // here, 600 s by default) aborts the job, naming the collective and the wait.
  const JobResult r = octet::testing::run_mpirun_job(
      "-x OCTET_COLLECTIVE_TIMEOUT=2 " OCTET_TEST_BIN_DIR "/failing_rank_probe 1 hang", 2, 90);
  std::printf("%s(exit %d after %.1f s)\n", r.output.c_str(), r.exit_code, r.seconds);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 124) << "the job hung";
  EXPECT_LT(r.seconds, 60.0);
  EXPECT_NE(r.output.find("rank 0 of 2: allreduce (16 bytes) has not completed after 2 s"),
            std::string::npos);
}

TEST(FailingRank, AHealthyJobExitsZero) {
  const JobResult r = run_job("5 throw");  // no rank 5: nobody fails
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

}  // namespace
