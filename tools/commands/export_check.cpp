#include "tools/commands/export_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "framework/tensor/autograd.h"
#include "ops/cpu/gemm.h"
#include "runtime/linear_op.h"

namespace octet::tools {
namespace {

// Records, per layer, the worst relative error of the runtime's output against x W^T + b with
// the reference model's f32 parameters.
class LayerRecorder {
 public:
  explicit LayerRecorder(const nn::Module& reference) {
    for (auto& [name, t] : reference.named_parameters()) params_[name] = t;
    runtime::set_layer_tap([this](const std::string& name, const float* x, int64_t m, int64_t in,
                                  const float* y, int64_t out) { record(name, x, m, in, y, out); });
  }
  ~LayerRecorder() { runtime::set_layer_tap({}); }
  std::vector<LayerAgreement> layers() const { return layers_; }

 private:
  void record(const std::string& name, const float* x, int64_t m, int64_t in, const float* y,
              int64_t out) {
    const auto w = params_.find(name + ".weight");
    if (w == params_.end() || w->second.numel() != in * out) return;  // not a layer we know
    const Tensor weight = w->second.detach().contiguous();
    std::vector<float> ref(m * out);
    const View xv{const_cast<float*>(x), DType::f32, {}, {m, in}, {in, 1}};
    const View wt{weight.data<float>(), DType::f32, {}, {in, out}, {1, in}};
    const View rv{ref.data(), DType::f32, {}, {m, out}, {out, 1}};
    const auto b = params_.find(name + ".bias");
    Tensor bias;
    View bv;
    if (b != params_.end()) {
      bias = b->second.detach().contiguous();
      bv = View{bias.data<float>(), DType::f32, {}, {out}, {1}};
    }
    cpu::matmul(xv, wt, rv, b != params_.end() ? &bv : nullptr);
    double diff = 0, norm = 0;
    for (int64_t i = 0; i < m * out; ++i) {
      diff += (static_cast<double>(y[i]) - ref[i]) * (static_cast<double>(y[i]) - ref[i]);
      norm += static_cast<double>(ref[i]) * ref[i];
    }
    const double rel = std::sqrt(diff / std::max(norm, 1e-30));
    auto it = std::find_if(layers_.begin(), layers_.end(),
                           [&](const LayerAgreement& l) { return l.name == name; });
    if (it == layers_.end())
      layers_.push_back({name, rel});
    else
      it->relative_error = std::max(it->relative_error, rel);
  }

  std::map<std::string, Tensor> params_;
  std::vector<LayerAgreement> layers_;
};

AgreementReport compare_logits(const float* got, const float* want, int64_t rows, int64_t cols) {
  AgreementReport r;
  r.rows = rows;
  double diff = 0, norm = 0;
  int64_t same = 0;
  for (int64_t i = 0; i < rows; ++i) {
    const float* g = got + i * cols;
    const float* w = want + i * cols;
    double rd = 0, rn = 0;
    for (int64_t j = 0; j < cols; ++j) {
      rd += (static_cast<double>(g[j]) - w[j]) * (static_cast<double>(g[j]) - w[j]);
      rn += static_cast<double>(w[j]) * w[j];
    }
    diff += rd;
    norm += rn;
    r.max_row_relative_error =
        std::max(r.max_row_relative_error, std::sqrt(rd / std::max(rn, 1e-30)));
    same += (std::max_element(g, g + cols) - g) == (std::max_element(w, w + cols) - w);
  }
  r.logits_relative_error = std::sqrt(diff / std::max(norm, 1e-30));
  r.argmax_agreement = static_cast<double>(same) / static_cast<double>(std::max<int64_t>(rows, 1));
  return r;
}

// Evaluation mode without gradients for the duration, then the mode the model had.
template <typename Fn>
Tensor run_reference(nn::Module& model, Fn&& forward) {
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  Tensor out = forward();
  if (was_training) model.train();
  return out.contiguous();
}

}  // namespace

std::string AgreementReport::str() const {
  char line[200];
  std::snprintf(line, sizeof line,
                "%lld rows: logits relative error %.2e (worst row %.2e), arg-max agreement %.4f%%",
                static_cast<long long>(rows), logits_relative_error, max_row_relative_error,
                100.0 * argmax_agreement);
  return line;
}

AgreementReport compare_cnn(models::Cnn& reference, const runtime::CnnRuntime& deployed,
                            const float* images, int64_t n, int64_t chunk) {
  OCTET_CHECK(chunk > 0, "export_check", "cnn: chunk must be positive, got ", chunk);
  const int64_t s = deployed.image_size(), classes = deployed.classes();
  std::vector<float> got(n * classes);
  std::vector<LayerAgreement> layers;
  {
    LayerRecorder recorder(reference);
    deployed.logits(images, n, got.data(), chunk);
    layers = recorder.layers();
  }
  // The reference sees the runtime's chunks: a per-tensor current input scale is taken over the
  // whole input of a forward (runtime::LinearOp::input_scale_from_batch), so scoring all n
  // images at once would compare different numbers. Without such a layer the chunks change
  // nothing but f32 rounding.
  Generator unused(0);
  std::vector<float> want(n * classes);
  for (int64_t b = 0; b < n; b += chunk) {
    const int64_t m = std::min(chunk, n - b);
    const Tensor part = run_reference(reference, [&] {
      std::vector<float> pixels(images + b * s * s, images + (b + m) * s * s);
      return reference.forward(Tensor::from_vector(pixels, {m, 1, s, s}), unused);
    });
    std::copy_n(part.data<float>(), m * classes, want.data() + b * classes);
  }
  AgreementReport r = compare_logits(got.data(), want.data(), n, classes);
  r.layers = std::move(layers);
  return r;
}

AgreementReport compare_decoder(models::LanguageModel& reference,
                                const runtime::TransformerRuntime& deployed, const int64_t* tokens,
                                int64_t batch, int64_t count) {
  const int64_t vocab = deployed.arch().vocab();
  std::vector<float> got(batch * count * vocab);
  std::vector<LayerAgreement> layers;
  {
    LayerRecorder recorder(reference);
    runtime::DecoderSession session = deployed.start(batch, count);
    deployed.forward(session, tokens, count, got.data());
    layers = recorder.layers();
  }
  Generator unused(0);
  const Tensor want = run_reference(reference, [&] {
    std::vector<int64_t> t(tokens, tokens + batch * count);
    return reference.forward(Tensor::from_vector(t, {batch, count}), unused);
  });
  AgreementReport r = compare_logits(got.data(), want.data<float>(), batch * count, vocab);
  r.layers = std::move(layers);
  return r;
}

void require_agreement(const AgreementReport& report, double max_logits_error,
                       double max_layer_error, const std::string& path) {
  if (report.logits_relative_error <= max_logits_error) return;
  const LayerAgreement* culprit = nullptr;
  for (const LayerAgreement& l : report.layers)
    if (l.relative_error > max_layer_error) {
      culprit = &l;
      break;
    }
  if (!culprit && !report.layers.empty())
    culprit = &*std::max_element(report.layers.begin(), report.layers.end(),
                                 [](const LayerAgreement& a, const LayerAgreement& b) {
                                   return a.relative_error < b.relative_error;
                                 });
  char detail[160];
  std::snprintf(detail, sizeof detail, "logits relative error %.3g exceeds %.3g",
                report.logits_relative_error, max_logits_error);
  std::string msg = path + ": the deployed model does not agree with the trained one: " + detail;
  if (culprit) {
    char layer[160];
    std::snprintf(layer, sizeof layer,
                  "; first layer whose error explodes: '%s' (relative error %.3g)",
                  culprit->name.c_str(), culprit->relative_error);
    msg += layer;
  }
  throw Error("export_check", msg);
}

}  // namespace octet::tools
