#include "runtime/cnn_runtime.h"

#include <algorithm>

#include "ops/error.h"
#include "runtime/scratch.h"

namespace octet::runtime {
namespace {

void relu_inplace(float* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

// 2x2 max pooling with stride 2, as the training kernel computes it (the first maximum of each
// window in row-major order; a NaN, once met, stays), without the arg-max indices it keeps for
// its backward pass.
void max_pool2(const float* x, int64_t n, int64_t c, int64_t h, int64_t w, float* out) {
  const int64_t oh = h / 2, ow = w / 2;
#pragma omp parallel for schedule(static) if (n * c * h * w > (1 << 16))
  for (int64_t plane = 0; plane < n * c; ++plane) {
    const float* p = x + plane * h * w;
    float* o = out + plane * oh * ow;
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        const float* win = p + 2 * i * w + 2 * j;
        float m = win[0];
        for (const float v : {win[1], win[w], win[w + 1]})
          if (v > m || (v != v && m == m)) m = v;
        o[i * ow + j] = m;
      }
  }
}

}  // namespace

CnnRuntime::CnnRuntime(const ModelFile& file) {
  const proto::QModel& h = file.header();
  OCTET_CHECK(h.has_cnn(), "qmodel", file.path(), ": not a CNN model");
  const proto::CnnArch& a = h.cnn();
  image_ = a.image_size();
  channels1_ = a.channels1();
  channels2_ = a.channels2();
  hidden_ = a.hidden();
  classes_ = a.classes();
  OCTET_CHECK(image_ % 4 == 0 && image_ > 0 && channels1_ > 0 && channels2_ > 0 && hidden_ > 0 &&
                  classes_ > 0,
              "qmodel", file.path(), ": CNN architecture with image size ", image_,
              " (needs a positive multiple of 4), channels ", channels1_, "/", channels2_,
              ", hidden ", hidden_, ", classes ", classes_);
  conv1_ = Conv2dOp::load(file, "conv1", 1, channels1_, 3, 1, 1);
  conv2_ = Conv2dOp::load(file, "conv2", channels1_, channels2_, 3, 1, 1);
  const int64_t flat = channels2_ * (image_ / 4) * (image_ / 4);
  fc1_ = LinearOp::load(file, "fc1", {hidden_, flat}, true);
  fc2_ = LinearOp::load(file, "fc2", {classes_, hidden_}, true);
}

void CnnRuntime::forward_chunk(const float* images, int64_t n, float* out) const {
  const int64_t s = image_, s2 = s / 2, s4 = s / 4;
  thread_local std::vector<float> a, b;
  grow(a, n * channels1_ * s * s);
  grow(b, n * channels1_ * s2 * s2);
  conv1_.forward(images, n, s, s, a.data());
  relu_inplace(a.data(), n * channels1_ * s * s);
  max_pool2(a.data(), n, channels1_, s, s, b.data());
  grow(a, std::max<int64_t>(n * channels2_ * s2 * s2, n * hidden_));
  conv2_.forward(b.data(), n, s2, s2, a.data());
  relu_inplace(a.data(), n * channels2_ * s2 * s2);
  grow(b, n * channels2_ * s4 * s4);
  max_pool2(a.data(), n, channels2_, s2, s2, b.data());
  // b is [n, C2 * s4 * s4]: NCHW flattens per image exactly as the training model's reshape.
  fc1_.forward(b.data(), n, a.data());
  relu_inplace(a.data(), n * hidden_);
  fc2_.forward(a.data(), n, out);
}

void CnnRuntime::logits(const float* images, int64_t n, float* out, int64_t chunk) const {
  OCTET_CHECK(chunk > 0, "runtime", "cnn: chunk must be positive, got ", chunk);
  for (int64_t i = 0; i < n; i += chunk) {
    const int64_t m = std::min(chunk, n - i);
    forward_chunk(images + i * image_ * image_, m, out + i * classes_);
  }
}

std::vector<std::string> CnnRuntime::describe() const {
  return {"conv1: " + conv1_.describe(), "conv2: " + conv2_.describe(), "fc1: " + fc1_.describe(),
          "fc2: " + fc2_.describe()};
}

size_t CnnRuntime::resident_bytes() const {
  return conv1_.linear().resident_bytes() + conv2_.linear().resident_bytes() +
         fc1_.resident_bytes() + fc2_.resident_bytes();
}

}  // namespace octet::runtime
