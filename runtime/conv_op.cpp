#include "runtime/conv_op.h"

#include <vector>

#include "ops/error.h"

namespace octet::runtime {
namespace {

// rows [n * oh * ow, c * k * k]: row (b, y, x) holds the receptive field of that output pixel in
// (channel, ky, kx) order, the order of the weight's flattened [C, K, K].
void im2row(const float* img, int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t stride,
            int64_t pad, int64_t oh, int64_t ow, float* rows) {
  const int64_t patch = c * k * k;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        float* row = rows + ((b * oh + oy) * ow + ox) * patch;
        for (int64_t ch = 0; ch < c; ++ch) {
          const float* plane = img + (b * c + ch) * h * w;
          for (int64_t ky = 0; ky < k; ++ky) {
            const int64_t iy = oy * stride - pad + ky;
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t ix = ox * stride - pad + kx;
              const bool inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
              *row++ = inside ? plane[iy * w + ix] : 0.0f;
            }
          }
        }
      }
}

}  // namespace

Conv2dOp Conv2dOp::load(const ModelFile& file, const std::string& name, int64_t in_channels,
                        int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding) {
  Conv2dOp op;
  op.in_ = in_channels;
  op.out_ = out_channels;
  op.kernel_ = kernel;
  op.stride_ = stride;
  op.padding_ = padding;
  LinearLoadOptions options;
  if (const proto::Layer* layer = file.layer(name)) {
    const std::string where = file.path() + ": layer '" + name + "'";
    OCTET_CHECK(layer->kind() == proto::Layer::CONV2D && layer->kernel() == kernel &&
                    layer->stride() == stride && layer->padding() == padding,
                "qmodel", where, ": expected a conv2d with kernel ", kernel, ", stride ", stride,
                ", padding ", padding);
    ActivationQuantizer input = ActivationQuantizer::load(file, *layer);
    if (input.enabled() && input.spec().granularity != quant::Granularity::kPerTensor) {
      op.image_quantizer_ = std::move(input);
      options.input_prequantized = true;
    }
  }
  op.linear_ =
      LinearOp::load(file, name, {out_channels, in_channels, kernel, kernel}, true, options);
  return op;
}

void Conv2dOp::forward(const float* x, int64_t n, int64_t h, int64_t w, float* y) const {
  const int64_t oh = out_size(h), ow = out_size(w);
  OCTET_CHECK(oh > 0 && ow > 0, "runtime", "conv2d: a ", h, "x", w, " image is smaller than the ",
              kernel_, "x", kernel_, " kernel");
  const int64_t pixels = oh * ow, patch = in_ * kernel_ * kernel_;
  thread_local std::vector<float> image, rows, out_rows;
  const float* src = x;
  if (image_quantizer_.enabled()) {
    image.resize(n * in_ * h * w);
    image_quantizer_.fake_quantize(x, {n, in_, h, w}, image.data());
    src = image.data();
  }
  rows.resize(n * pixels * patch);
  out_rows.resize(n * pixels * out_);
  im2row(src, n, in_, h, w, kernel_, stride_, padding_, oh, ow, rows.data());
  linear_.forward(rows.data(), n * pixels, out_rows.data());
  // [n, pixels, O] -> [n, O, pixels]. out_rows is thread_local: workers get it by pointer.
  const float* result = out_rows.data();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < out_; ++o) {
      const float* from = result + b * pixels * out_ + o;
      float* to = y + (b * out_ + o) * pixels;
      for (int64_t p = 0; p < pixels; ++p) to[p] = from[p * out_];
    }
}

std::string Conv2dOp::describe() const {
  std::string d = linear_.describe();
  if (image_quantizer_.enabled())
    d += " (input fake-quantized per image: " + image_quantizer_.spec().str() + ")";
  return d;
}

}  // namespace octet::runtime
