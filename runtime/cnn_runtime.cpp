#include "runtime/cnn_runtime.h"

#include <algorithm>

#include "ops/cpu/pool.h"
#include "ops/error.h"

namespace octet::runtime {
namespace {

void relu_inplace(float* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

// 2x2 max pooling with stride 2 through the training kernel (the arg-max indices it also writes
// are discarded: inference needs no backward).
void max_pool2(const float* x, int64_t n, int64_t c, int64_t h, int64_t w, float* out) {
  thread_local std::vector<int64_t> indices;
  const Shape in_shape{n, c, h, w};
  const Shape out_shape = cpu::max_pool2d_output_shape(in_shape, 2, 2);
  indices.resize(numel_of(out_shape));
  const View xv{const_cast<float*>(x), DType::f32, {}, in_shape, contiguous_strides(in_shape)};
  const View ov{out, DType::f32, {}, out_shape, contiguous_strides(out_shape)};
  const View iv{indices.data(), DType::i64, {}, out_shape, contiguous_strides(out_shape)};
  cpu::max_pool2d_forward(xv, 2, 2, ov, iv);
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
  a.resize(n * channels1_ * s * s);
  b.resize(n * channels1_ * s2 * s2);
  conv1_.forward(images, n, s, s, a.data());
  relu_inplace(a.data(), n * channels1_ * s * s);
  max_pool2(a.data(), n, channels1_, s, s, b.data());
  a.resize(std::max<int64_t>(n * channels2_ * s2 * s2, n * hidden_));
  conv2_.forward(b.data(), n, s2, s2, a.data());
  relu_inplace(a.data(), n * channels2_ * s2 * s2);
  b.resize(n * channels2_ * s4 * s4);
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
