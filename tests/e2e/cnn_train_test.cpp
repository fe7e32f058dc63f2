// The Fashion-MNIST CNN learns from scratch on the real data. A shortened run keeps CI fast; the
// full run (>= 90% test accuracy) is `octet train cnn` in the README.
#include <gtest/gtest.h>

#include "framework/train/image_classifier.h"

namespace octet {
namespace {

TEST(CnnTraining, OneEpochOnTwentyThousandImagesReachesEightyFivePercent) {
  train::CnnTrainOptions o;
  o.epochs = 1;
  o.train_limit = 20000;
  o.test_limit = 5000;
  o.log = [](const std::string& s) { std::printf("%s\n", s.c_str()); };
  train::CnnTrainResult r = train::train_cnn(o);
  std::printf("test accuracy %.2f%% in %.1f s\n", 100 * r.test_accuracy, r.seconds);
  EXPECT_GE(r.test_accuracy, 0.85);
}

}  // namespace
}  // namespace octet
