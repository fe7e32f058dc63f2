#include "qat/cnn_experiment.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <sstream>

#include "framework/data/fashion_mnist.h"
#include "qat/prepare.h"
#include "qat/schemes.h"

namespace octet::qat {
namespace {

// A fresh model holding `source`'s parameters and buffers.
std::unique_ptr<models::Cnn> copy_of(const models::Cnn& source) {
  Generator unused(0);
  auto copy = std::make_unique<models::Cnn>(source.config(), unused);
  nn::NamedTensors state = source.named_parameters();
  for (auto& b : source.named_buffers()) state.push_back(b);
  copy->load_state(state);
  return copy;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::vector<CnnQuantRow> compare_cnn_quantization(const models::Cnn& trained,
                                                  const CnnQuantOptions& o) {
  const std::string dir = o.data_dir.empty() ? kFashionMnistDir : o.data_dir;
  const ImageDataset train_set = load_fashion_mnist(dir, true);
  const ImageDataset test_set = load_fashion_mnist(dir, false);
  const Tensor test_x = train::normalize_images(test_set.images.data(), test_set.n);
  const int64_t calib_images = std::min(train_set.n, o.calibration_batches * o.batch);
  const Tensor calib_x = train::normalize_images(train_set.images.data(), calib_images);

  train::CnnTrainOptions finetune;
  finetune.epochs = 1;
  finetune.batch = o.batch;
  finetune.train_limit = o.finetune_steps * o.batch;
  finetune.lr = o.finetune_lr;
  finetune.min_lr = o.finetune_lr * 0.1;
  finetune.warmup = 0;
  finetune.seed = o.seed;
  finetune.data_dir = o.data_dir;

  std::vector<CnnQuantRow> rows;
  auto add = [&](const std::string& method, const std::string& scheme, models::Cnn& model,
                 std::chrono::steady_clock::time_point t0) {
    CnnQuantRow row{method, scheme, train::evaluate_accuracy(model, test_x, test_set.labels.data()),
                    seconds_since(t0)};
    if (o.log) {
      std::ostringstream os;
      os << method << (scheme.empty() ? "" : " " + scheme) << ": test accuracy "
         << 100.0 * row.accuracy << "% (" << row.seconds << " s)";
      o.log(os.str());
    }
    rows.push_back(row);
    if (o.on_model) o.on_model(method, scheme, model);
  };

  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<models::Cnn> base = copy_of(trained);
  add("fp32", "", *base, t0);

  t0 = std::chrono::steady_clock::now();
  std::unique_ptr<models::Cnn> control = copy_of(trained);
  train::train_cnn(finetune, control.get());
  add("fp32_finetune", "", *control, t0);

  // Each scheme's PTQ row, then its QAT row, in the order the schemes were named.
  const std::vector<std::string>& qat_schemes = o.qat_schemes ? *o.qat_schemes : o.schemes;
  std::vector<std::string> all_schemes = o.schemes;
  for (const std::string& scheme : qat_schemes)
    if (!contains(all_schemes, scheme)) all_schemes.push_back(scheme);
  for (const std::string& scheme : all_schemes) {
    QatConfig config;
    config.layers = scheme_config(scheme);

    if (contains(o.schemes, scheme)) {
      t0 = std::chrono::steady_clock::now();
      std::unique_ptr<models::Cnn> ptq = copy_of(trained);
      prepare(*ptq, config);
      Generator unused(0);
      calibrate(*ptq, o.calibration_batches, [&](int64_t i) {
        const int64_t begin = i * o.batch, end = std::min(calib_images, begin + o.batch);
        if (begin < end) ptq->forward(calib_x.slice(0, begin, end), unused);
      });
      add("ptq", scheme, *ptq, t0);
    }
    if (!contains(qat_schemes, scheme)) continue;

    t0 = std::chrono::steady_clock::now();
    std::unique_ptr<models::Cnn> qat = copy_of(trained);
    prepare(*qat, config);
    train::train_cnn(finetune, qat.get());
    add("qat", scheme, *qat, t0);
  }
  return rows;
}

}  // namespace octet::qat
