#pragma once
// The Fashion-MNIST CNN of framework/models/cnn.h, deployed: conv-relu-pool twice, then two
// linear layers, each running the kernel its model-file entry asks for (runtime/linear_op.h).
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/conv_op.h"
#include "runtime/linear_op.h"
#include "runtime/model_file.h"

namespace octet::runtime {

class CnnRuntime {
 public:
  // `file` must outlive the runtime (weights stay in its mapping). Throws naming the file and the
  // tensor when the file does not hold a CNN of its declared architecture.
  explicit CnnRuntime(const ModelFile& file);

  int64_t image_size() const { return image_; }
  int64_t classes() const { return classes_; }
  // images [n, 1, S, S] f32 -> logits [n, classes], computed in chunks of `chunk` images.
  void logits(const float* images, int64_t n, float* out, int64_t chunk = 256) const;
  // One line per layer: its name and kernel.
  std::vector<std::string> describe() const;
  size_t resident_bytes() const;

 private:
  void forward_chunk(const float* images, int64_t n, float* out) const;

  int64_t image_ = 28, channels1_ = 0, channels2_ = 0, hidden_ = 0, classes_ = 0;
  Conv2dOp conv1_, conv2_;
  LinearOp fc1_, fc2_;
};

}  // namespace octet::runtime
