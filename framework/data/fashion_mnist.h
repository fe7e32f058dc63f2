#pragma once
// Fashion-MNIST (Zalando; same layout as MNIST): 28x28 grey images, 10 classes, 60000 train and
// 10000 test examples, read from the four IDX files of Debian's dataset-fashion-mnist.
#include <cstdint>
#include <string>
#include <vector>

namespace octet {

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
inline constexpr int64_t kFashionMnistClasses = 10;

struct ImageDataset {
  int64_t n = 0, rows = 0, cols = 0;
  std::vector<uint8_t> images;  // n * rows * cols, row-major, 0 = background
  std::vector<uint8_t> labels;  // n, each in [0, kFashionMnistClasses)
};

// Loads "<dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz", or the same names without .gz
// when the compressed file is absent. Throws octet::Error (area "fashion_mnist" or "idx") when a
// file is missing or malformed, when the image and label counts differ (naming both files), or
// when a label is out of range.
ImageDataset load_fashion_mnist(const std::string& dir = kFashionMnistDir, bool train = true);

}  // namespace octet
