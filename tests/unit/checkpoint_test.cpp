// Checkpoints: round trip of parameters, optimizer state, step and RNG, and clear errors.
#include "framework/io/checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "framework/models/cnn.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

class Checkpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("octet_ckpt_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(Checkpoint, RoundTripsModelOptimizerStepAndRng) {
  Generator gen(7), data(8);
  models::Cnn a(models::CnnConfig{}, gen);
  optim::AdamW opt_a(a.named_parameters(), {});
  for (auto& p : a.parameters()) p.set_grad(Tensor::ones(p.shape()));
  opt_a.step();
  data.next_u64();
  io::TrainingState sa{&a, &opt_a, {{"data", &data}}, 42, {{"note", "hello"}}};
  io::save_checkpoint(path("a.ckpt"), sa);

  Generator gen2(99), data2(0);
  models::Cnn b(models::CnnConfig{}, gen2);
  optim::AdamW opt_b(b.named_parameters(), {});
  io::TrainingState sb{&b, &opt_b, {{"data", &data2}}, 0, {}};
  io::load_checkpoint(path("a.ckpt"), sb);
  EXPECT_EQ(sb.step, 42);
  EXPECT_EQ(sb.metadata.at("note"), "hello");
  EXPECT_EQ(opt_b.steps(), 1);
  EXPECT_EQ(data2.next_u64(), data.next_u64());
  auto pa = a.named_parameters(), pb = b.named_parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_EQ(pa[i].second.to_vector<float>(), pb[i].second.to_vector<float>()) << pa[i].first;
  auto oa = opt_a.state(), ob = opt_b.state();
  for (size_t i = 0; i < oa.size(); ++i)
    EXPECT_EQ(oa[i].second.to_vector<float>(), ob[i].second.to_vector<float>()) << oa[i].first;
}

TEST_F(Checkpoint, CorruptedAndMismatchedFilesNameFileTensorAndReason) {
  Generator gen(7);
  models::Cnn a(models::CnnConfig{}, gen);
  io::TrainingState sa{&a, nullptr, {}, 1, {}};
  io::save_checkpoint(path("a.ckpt"), sa);
  // Flip a byte near the end: inside the last tensor's data.
  {
    std::fstream f(path("a.ckpt"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('\x7f');
  }
  models::Cnn b(models::CnnConfig{}, gen);
  io::TrainingState sb{&b, nullptr, {}, 0, {}};
  try {
    io::load_checkpoint(path("a.ckpt"), sb);
    FAIL() << "expected a checksum error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path("a.ckpt")), std::string::npos) << what;
    EXPECT_NE(what.find("param/fc2.bias"), std::string::npos) << what;
    EXPECT_NE(what.find("checksum"), std::string::npos) << what;
  }
  // A model of another shape: names the tensor and both shapes.
  io::save_checkpoint(path("b.ckpt"), sa);
  models::CnnConfig wide;
  wide.hidden = 64;
  models::Cnn c(wide, gen);
  io::TrainingState sc{&c, nullptr, {}, 0, {}};
  try {
    io::load_checkpoint(path("b.ckpt"), sc);
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("param/fc1.weight"), std::string::npos) << what;
    EXPECT_NE(what.find("[128, 3136]"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace octet
