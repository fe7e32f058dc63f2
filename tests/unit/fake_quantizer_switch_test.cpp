// The switches a FakeQuantizer's forward consults on the host (observing, fake-quantizing, the
// observer's "observed", LSQ's "initialised") are buffers that host_switch reads in place: a
// checkpoint load or a load_state between modules writes them, and the next forward must act on
// the written values (no stale copy of them anywhere). The GPU side of the same logic (switch
// buffers coming back to host memory after Module::to) is in tests/gpu/cuda_observer_test.cpp.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "framework/functional/arithmetic.h"
#include "framework/io/checkpoint.h"
#include "framework/random.h"
#include "qat/fake_quantizer.h"
#include "qat/minmax_observer.h"

namespace octet::qat {
namespace {

using quant::QuantSpec;
using quant::ScaleSource;

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("octet_switch_" + name + ".ckpt")).string();
}

std::vector<float> values(const Tensor& t) { return t.detach().contiguous().to_vector<float>(); }

std::vector<float> buffer(const nn::Module& m, const std::string& name) {
  for (const auto& [n, t] : m.named_buffers())
    if (n == name) return values(t);
  ADD_FAILURE() << "no buffer " << name;
  return {};
}

TensorQuantConfig minmax_config() {
  return {QuantSpec::int8_symmetric(), {ObserverKind::kMovingAverageMinMax}, Ste::kClipped};
}

TensorQuantConfig amax_history_config() {
  TensorQuantConfig c{
      QuantSpec::fp8_e4m3().with_source(ScaleSource::kAmaxHistory), {}, Ste::kClipped};
  c.observer.history_length = 4;
  return c;
}

void save(const std::string& path, nn::Module& m) {
  io::TrainingState state{&m, nullptr, {}, 0, {}};
  io::save_checkpoint(path, state);
}

void load(const std::string& path, nn::Module& m) {
  io::TrainingState state{&m, nullptr, {}, 0, {}};
  io::load_checkpoint(path, state);
}

TEST(FakeQuantizerSwitches, HostSwitchIsTheBufferItself) {
  FakeQuantizer fq(minmax_config(), 1);
  host_switch(fq.named_buffers().front().second) = 0.0f;  // "observer_enabled"
  EXPECT_EQ(fq.named_buffers().front().first, "observer_enabled");
  EXPECT_FALSE(fq.observer_enabled());
  fq.enable_observer(true);
  EXPECT_EQ(buffer(fq, "observer_enabled"), std::vector<float>{1.0f});
  fq.enable_fake_quant(false);
  EXPECT_EQ(buffer(fq, "fake_quant_enabled"), std::vector<float>{0.0f});
  EXPECT_THROW(host_switch(Tensor::zeros({2})), Error);
}

TEST(FakeQuantizerSwitches, CheckpointRestoresSwitchesAndTheForwardObeysThem) {
  Generator gen(1);
  FakeQuantizer saved(minmax_config(), 1);
  saved.forward(Tensor::randn({64}, gen) * 3);
  saved.enable_observer(false);
  saved.enable_fake_quant(false);
  const std::string path = temp_path("minmax");
  save(path, saved);

  FakeQuantizer loaded(minmax_config(), 1);
  ASSERT_TRUE(loaded.observer_enabled());
  ASSERT_TRUE(loaded.fake_quant_enabled());
  load(path, loaded);
  std::filesystem::remove(path);
  EXPECT_FALSE(loaded.observer_enabled());
  EXPECT_FALSE(loaded.fake_quant_enabled());
  auto& observer = dynamic_cast<Observer&>(*loaded.child("observer"));
  EXPECT_TRUE(observer.has_observed());

  // Fake-quant off: x comes back as is; observing off: the statistics do not move.
  const Tensor x = Tensor::randn({64}, gen) * 10;
  const std::vector<float> range_before = buffer(loaded, "observer.max_val");
  EXPECT_EQ(values(loaded.forward(x)), values(x));
  EXPECT_EQ(buffer(loaded, "observer.max_val"), range_before);

  // Switched back on, both quantize alike from the same restored state.
  saved.enable_fake_quant(true);
  loaded.enable_fake_quant(true);
  EXPECT_EQ(values(loaded.forward(x)), values(saved.forward(x)));
  saved.enable_observer(true);
  loaded.enable_observer(true);
  EXPECT_EQ(values(loaded.forward(x)), values(saved.forward(x)));
  EXPECT_EQ(buffer(loaded, "observer.max_val"), buffer(saved, "observer.max_val"));
  EXPECT_NE(buffer(loaded, "observer.max_val"), range_before);
}

TEST(FakeQuantizerSwitches, LoadStateCopiesSwitchesBetweenModules) {
  Generator gen(2);
  FakeQuantizer source(minmax_config(), 1), target(minmax_config(), 1);
  source.forward(Tensor::randn({32}, gen));
  source.enable_observer(false);
  target.load_state(source.named_buffers());
  EXPECT_FALSE(target.observer_enabled());
  EXPECT_TRUE(target.fake_quant_enabled());
  EXPECT_TRUE(dynamic_cast<Observer&>(*target.child("observer")).has_observed());
  // And back: a module whose switches are on overwrites them again.
  FakeQuantizer fresh(minmax_config(), 1);
  target.load_state(fresh.named_buffers());
  EXPECT_TRUE(target.observer_enabled());
  EXPECT_FALSE(dynamic_cast<Observer&>(*target.child("observer")).has_observed());
}

// The delayed-scaling decision reads "observed": restored as true, the first forward after the
// load quantizes with the scale of the saved history, not with the tensor's own amax.
TEST(FakeQuantizerSwitches, RestoredObservedFlagKeepsDelayedScaling) {
  Generator gen(3);
  FakeQuantizer saved(amax_history_config(), 1);
  for (int i = 0; i < 3; ++i) saved.forward(Tensor::randn({48}, gen));
  const std::string path = temp_path("amax");
  save(path, saved);
  FakeQuantizer loaded(amax_history_config(), 1);
  load(path, loaded);
  std::filesystem::remove(path);
  const Tensor big = Tensor::randn({48}, gen) * 1000;  // far beyond the history: saturates
  const std::vector<float> delayed = values(saved.forward(big));
  EXPECT_EQ(values(loaded.forward(big)), delayed);
  EXPECT_EQ(buffer(loaded, "observer.amax_history"), buffer(saved, "observer.amax_history"));
  EXPECT_EQ(buffer(loaded, "observer.scale"), buffer(saved, "observer.scale"));
  // A fresh quantizer observes the first tensor before quantizing it: no saturation.
  FakeQuantizer fresh(amax_history_config(), 1);
  EXPECT_NE(values(fresh.forward(big)), delayed);
}

// LSQ initialises its scale from the first tensor only; a restored "initialised" flag keeps the
// loaded (learned) scale instead of re-initialising from the next tensor.
TEST(FakeQuantizerSwitches, RestoredLearnedFlagKeepsTheLearnedScale) {
  Generator gen(4);
  const TensorQuantConfig lsq{
      QuantSpec::int8_symmetric().with_source(ScaleSource::kLearned), {}, Ste::kClipped};
  FakeQuantizer saved(lsq, 1);
  saved.forward(Tensor::randn({40}, gen));
  const std::string path = temp_path("lsq");
  save(path, saved);
  FakeQuantizer loaded(lsq, 1);
  load(path, loaded);
  std::filesystem::remove(path);
  EXPECT_EQ(buffer(loaded, "learned_initialized"), std::vector<float>{1.0f});
  const Tensor wide = Tensor::randn({40}, gen) * 50;
  EXPECT_EQ(values(loaded.forward(wide)), values(saved.forward(wide)));
  EXPECT_EQ(values(loaded.parameter("scale")), values(saved.parameter("scale")));
}

}  // namespace
}  // namespace octet::qat
