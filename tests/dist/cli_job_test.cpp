// The octet binary as a job of 2 ranks: `mpirun -np 2 octet train --recipe R` trains the CNN
// data-parallel (each rank a share of the global batch), rank 0 alone prints, saves and writes
// metrics.jsonl, and a usage error still exits 2 from every rank.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "../support/mpirun_job.h"

namespace fs = std::filesystem;

namespace {

octet::testing::JobResult run(const std::string& args) {
  return octet::testing::run_mpirun_job(OCTET_TEST_BIN_DIR "/../bin/octet " + args);
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(CliJob, TwoRanksTrainTheCnnFromTheDemoRecipe) {
  const fs::path dir = fs::temp_directory_path() / ("octet_cli_job_" + std::to_string(getpid()));
  fs::remove_all(dir);
  const std::string recipe = std::string(OCTET_SOURCE_DIR) + "/recipes/fashion_mnist_cnn.textproto";
  const octet::testing::JobResult j =
      run("train --recipe " + recipe +
          " --set data.fashion_mnist.train_limit=2048 --set schedule.epochs=1"
          " --set checkpoint.path=" +
          (dir / "cnn.ckpt").string());
  std::printf("%s", j.output.c_str());
  ASSERT_EQ(j.exit_code, 0);
  EXPECT_EQ(count(j.output, "fashion-mnist cnn: test accuracy"), 1) << "only rank 0 reports";
  EXPECT_NE(j.output.find("2 ranks x 1 threads, mpi"), std::string::npos);
  EXPECT_TRUE(fs::is_regular_file(dir / "cnn.ckpt"));
  std::ifstream metrics(dir / "metrics.jsonl");
  std::string line;
  int steps = 0;
  while (std::getline(metrics, line)) steps += line.find("\"step\"") != std::string::npos;
  EXPECT_EQ(steps, 2048 / 128) << "one line per step, from rank 0 only";
  fs::remove_all(dir);
}

TEST(CliJob, AUsageErrorExitsTwo) {
  const octet::testing::JobResult j = run("train --recipe /nonexistent.textproto");
  EXPECT_EQ(j.exit_code, 2) << j.output;
}

}  // namespace
