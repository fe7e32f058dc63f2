// The Fashion-MNIST CNN learns from scratch on the real data. A shortened run keeps CI fast; the
// full run (>= 90% test accuracy) is `octet train cnn` in the README.
#include <gtest/gtest.h>

#include "framework/train/image_classifier.h"

namespace octet {
namespace {

// One epoch over all 60k images gives 88.35% (deterministic for a seed; ~45 s on 2 cores); the
// bound leaves room for a different seed, not for a regression.
TEST(CnnTraining, OneEpochReachesEightySevenPercent) {
  train::CnnTrainOptions o;
  o.epochs = 1;
  o.log = [](const std::string& s) { std::printf("%s\n", s.c_str()); };
  train::CnnTrainResult r = train::train_cnn(o);
  std::printf("test accuracy %.2f%% in %.1f s\n", 100 * r.test_accuracy, r.seconds);
  EXPECT_GE(r.test_accuracy, 0.87);
}

}  // namespace
}  // namespace octet
