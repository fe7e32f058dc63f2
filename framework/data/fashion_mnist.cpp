#include "framework/data/fashion_mnist.h"

#include <filesystem>
#include <utility>

#include "framework/data/idx.h"
#include "ops/error.h"

namespace octet {
namespace {

// Prefers the gzip file Debian ships; falls back to an unpacked copy so a user who gunzipped the
// files in place is not punished. If neither exists the .gz name is reported as missing.
std::string pick_file(const std::string& dir, const std::string& stem) {
  const std::filesystem::path base = std::filesystem::path(dir) / stem;
  const std::string gz = base.string() + ".gz";
  if (!std::filesystem::exists(gz) && std::filesystem::exists(base)) return base.string();
  return gz;
}

}  // namespace

ImageDataset load_fashion_mnist(const std::string& dir, bool train) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string images_path = pick_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = pick_file(dir, prefix + "-labels-idx1-ubyte");

  IdxArray images = read_idx(images_path);
  IdxArray labels = read_idx(labels_path);
  OCTET_CHECK(images.dims.size() == 3, "fashion_mnist", images_path,
              ": expected a 3-d array (count, rows, cols), got ", images.dims.size(), " dims");
  OCTET_CHECK(labels.dims.size() == 1, "fashion_mnist", labels_path,
              ": expected a 1-d array of labels, got ", labels.dims.size(), " dims");
  OCTET_CHECK(images.dims[0] == labels.dims[0], "fashion_mnist",
              "image and label counts differ: ", images_path, " holds ", images.dims[0],
              " images but ", labels_path, " holds ", labels.dims[0], " labels");
  for (size_t i = 0; i < labels.data.size(); ++i) {
    OCTET_CHECK(labels.data[i] < kFashionMnistClasses, "fashion_mnist", labels_path, ": label ", i,
                " (byte offset ", 8 + i, ") is ", int{labels.data[i]}, ", outside [0, ",
                kFashionMnistClasses, ")");
  }

  ImageDataset out;
  out.n = images.dims[0];
  out.rows = images.dims[1];
  out.cols = images.dims[2];
  out.images = std::move(images.data);
  out.labels = std::move(labels.data);
  return out;
}

}  // namespace octet
