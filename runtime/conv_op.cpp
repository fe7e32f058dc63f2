#include "runtime/conv_op.h"

#include <algorithm>
#include <vector>

#include "ops/error.h"
#include "runtime/scratch.h"

namespace octet::runtime {
namespace {

// The im2row matrix of one chunk of images: a size the L2 cache holds.
constexpr int64_t kChunkBytes = 1 << 20;

// rows [n * oh * ow, c * k * k]: row (b, y, x) holds the receptive field of that output pixel in
// (channel, ky, kx) order, the order of the weight's flattened [C, K, K]. The columns of a
// receptive field that fall into the padding are worked out once per output pixel, so the
// inner loop is a plain copy.
// K > 0: the kernel size known at compile time (3x3, the common case, unrolls); 0: take k_arg.
template <int64_t K>
void im2row_kernel(const float* img, int64_t n, int64_t c, int64_t h, int64_t w, int64_t k_arg,
                   int64_t stride, int64_t pad, int64_t oh, int64_t ow, float* rows) {
  const int64_t k = K > 0 ? K : k_arg;
  const int64_t patch = c * k * k;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        float* row = rows + ((b * oh + oy) * ow + ox) * patch;
        const int64_t x0 = ox * stride - pad;
        const int64_t kx0 = std::max<int64_t>(0, -x0), kx1 = std::min<int64_t>(k, w - x0);
        for (int64_t ch = 0; ch < c; ++ch) {
          const float* plane = img + (b * c + ch) * h * w;
          for (int64_t ky = 0; ky < k; ++ky, row += k) {
            const int64_t iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= h) {
              std::fill_n(row, k, 0.0f);
              continue;
            }
            const float* src = plane + iy * w + x0;
            for (int64_t kx = 0; kx < kx0; ++kx) row[kx] = 0.0f;
            for (int64_t kx = kx0; kx < kx1; ++kx) row[kx] = src[kx];
            for (int64_t kx = std::max(kx0, kx1); kx < k; ++kx) row[kx] = 0.0f;
          }
        }
      }
}

void im2row(const float* img, int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t stride,
            int64_t pad, int64_t oh, int64_t ow, float* rows) {
  if (k == 3)
    im2row_kernel<3>(img, n, c, h, w, k, stride, pad, oh, ow, rows);
  else
    im2row_kernel<0>(img, n, c, h, w, k, stride, pad, oh, ow, rows);
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
    image_quantizer_.fake_quantize(x, {n, in_, h, w}, grow(image, n * in_ * h * w));
    src = image.data();
  }
  // A few images at a time, so their im2row matrix is still in cache when the GEMM quantizes and
  // reads it. A scale computed from each input would then depend on the chunking: such a layer
  // gets the whole batch at once, as the training model sees it.
  const int64_t bytes_per_image = pixels * patch * static_cast<int64_t>(sizeof(float));
  const int64_t chunk = linear_.input_scale_from_batch()
                            ? n
                            : std::clamp<int64_t>(kChunkBytes / bytes_per_image, 1, n);
  float* unfolded = grow(rows, chunk * pixels * patch);
  float* result = grow(out_rows, chunk * pixels * out_);
  for (int64_t b0 = 0; b0 < n; b0 += chunk) {
    const int64_t m = std::min(chunk, n - b0);
    im2row(src + b0 * in_ * h * w, m, in_, h, w, kernel_, stride_, padding_, oh, ow, unfolded);
    linear_.forward(unfolded, m * pixels, result);
    // [m, pixels, O] -> [m, O, pixels] in tiles of pixels, so reads and writes both stay local.
    constexpr int64_t kTile = 32;
    const int64_t tiles = (pixels + kTile - 1) / kTile;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < m; ++b)
      for (int64_t t = 0; t < tiles; ++t) {
        const int64_t p0 = t * kTile, p1 = std::min(pixels, p0 + kTile);
        const float* from = result + b * pixels * out_;
        float* to = y + (b0 + b) * out_ * pixels;
        for (int64_t o = 0; o < out_; ++o)
          for (int64_t p = p0; p < p1; ++p) to[o * pixels + p] = from[p * out_ + o];
      }
  }
}

std::string Conv2dOp::describe() const {
  std::string d = linear_.describe();
  if (image_quantizer_.enabled())
    d += " (input fake-quantized per image: " + image_quantizer_.spec().str() + ")";
  return d;
}

}  // namespace octet::runtime
