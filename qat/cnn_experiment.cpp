#include "qat/cnn_experiment.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <sstream>

#include "framework/data/batching.h"
#include "framework/data/fashion_mnist.h"
#include "framework/functional/arithmetic.h"
#include "framework/parallel/communicator.h"
#include "framework/tensor/autograd.h"
#include "qat/cnn_outlier_ptq.h"
#include "qat/prepare.h"

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

// Test accuracy from forwards of `chunk` images each (0: train::evaluate_accuracy's chunks),
// the chunks split over the ranks of parallel::world() as evaluate_accuracy splits its images,
// so every rank returns the accuracy on all of them. The model is left in training mode, as
// evaluate_accuracy leaves it.
double accuracy(models::Cnn& model, const Tensor& images, const uint8_t* labels, int64_t chunk) {
  if (chunk <= 0) return train::evaluate_accuracy(model, images, labels);
  parallel::Communicator& comm = parallel::world();
  NoGradGuard no_grad;
  model.eval();
  Generator unused(0);
  const int64_t n = images.size(0), chunks = (n + chunk - 1) / chunk;
  const RankShare share = rank_share(0, chunks, comm.rank(), comm.size());
  int64_t correct = 0;
  for (int64_t c = share.begin; c < share.end; ++c) {
    const int64_t b = c * chunk, e = std::min(n, b + chunk);
    const Tensor pred = argmax(model.forward(images.slice(0, b, e), unused));
    const int64_t* p = pred.data<int64_t>();
    for (int64_t i = 0; i < e - b; ++i) correct += p[i] == labels[b + i];
  }
  model.train();
  const double total =
      comm.allreduce_scalar(static_cast<double>(correct), parallel::ReduceOp::kSum);
  return total / static_cast<double>(std::max<int64_t>(n, 1));
}

}  // namespace

std::vector<CnnQuantRow> compare_cnn_quantization(const models::Cnn& trained,
                                                  const CnnQuantOptions& o) {
  // Each scheme's PTQ row, then its QAT row, in the order the schemes were named; their configs
  // first, so a bad scheme or skip pattern fails before any training.
  const std::vector<std::string>& qat_schemes = o.qat_schemes ? *o.qat_schemes : o.schemes;
  std::vector<std::string> all_schemes = o.schemes;
  for (const std::string& scheme : qat_schemes)
    if (!contains(all_schemes, scheme)) all_schemes.push_back(scheme);
  std::vector<QatConfig> configs;
  for (const std::string& scheme : all_schemes)
    configs.push_back(experiment_config(o.config_for, scheme, trained, "qat cnn"));
  for (const std::string& method : o.ptq_methods) cnn_outlier_layout(method);  // fails on a typo
  const QatConfig w8a8 = o.ptq_methods.empty()
                             ? QatConfig{}
                             : experiment_config(o.config_for, "w8a8", trained, "qat cnn");

  const std::string dir = o.data_dir.empty() ? kFashionMnistDir : o.data_dir;
  const ImageDataset train_set = load_fashion_mnist(dir, true);
  const ImageDataset test_set = load_fashion_mnist(dir, false);
  const int64_t test_images = o.test_limit > 0 ? std::min(o.test_limit, test_set.n) : test_set.n;
  const Tensor test_x = train::normalize_images(test_set.images.data(), test_images);
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
  // train_cnn's own end-of-epoch score is not used (each row is scored below), and scoring in
  // evaluation mode leaves the observers alone, so one image keeps the numbers and saves a pass.
  finetune.test_limit = 1;

  // Batch i of the calibration images through `model` (evaluation mode: no dropout to drive).
  auto calibration_batch = [&](models::Cnn& model) {
    return [&, m = &model](int64_t i) {
      Generator unused(0);
      const int64_t begin = i * o.batch, end = std::min(calib_images, begin + o.batch);
      if (begin < end) m->forward(calib_x.slice(0, begin, end), unused);
    };
  };

  std::vector<CnnQuantRow> rows;
  auto add = [&](const std::string& method, const std::string& scheme, models::Cnn& model,
                 std::chrono::steady_clock::time_point t0) {
    CnnQuantRow row{method, scheme, accuracy(model, test_x, test_set.labels.data(), o.eval_batch),
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

  // train_cnn's after_step hook for the fine-tuning of `row`.
  auto report_steps = [&](const std::string& row) -> std::function<void(const train::StepReport&)> {
    if (!o.on_finetune_step) return {};
    return [&o, row](const train::StepReport& step) { o.on_finetune_step(row, step); };
  };

  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<models::Cnn> base = copy_of(trained);
  add("fp32", "", *base, t0);

  t0 = std::chrono::steady_clock::now();
  std::unique_ptr<models::Cnn> control = copy_of(trained);
  train::CnnTrainOptions control_finetune = finetune;
  control_finetune.after_step = report_steps("fp32_finetune");
  if (o.on_finetune_start) o.on_finetune_start("fp32_finetune");
  train::train_cnn(control_finetune, control.get());
  add("fp32_finetune", "", *control, t0);

  for (size_t k = 0; k < all_schemes.size(); ++k) {
    const std::string& scheme = all_schemes[k];
    const QatConfig& config = configs[k];

    if (contains(o.schemes, scheme)) {
      t0 = std::chrono::steady_clock::now();
      std::unique_ptr<models::Cnn> ptq = copy_of(trained);
      prepare(*ptq, config);
      calibrate(*ptq, o.calibration_batches, calibration_batch(*ptq));
      add("ptq", scheme, *ptq, t0);
    }
    if (!contains(qat_schemes, scheme)) continue;

    t0 = std::chrono::steady_clock::now();
    std::unique_ptr<models::Cnn> qat = copy_of(trained);
    prepare(*qat, config);
    train::CnnTrainOptions qat_finetune = finetune;
    qat_finetune.after_step = report_steps("qat_" + scheme);
    if (o.qat_schedule)
      qat_finetune.before_step = [&](int64_t step) { o.qat_schedule->apply(*qat, step); };
    if (o.on_finetune_start) o.on_finetune_start("qat_" + scheme);
    train::train_cnn(qat_finetune, qat.get());
    add("qat", scheme, *qat, t0);
  }
  for (const std::string& method : o.ptq_methods) {
    t0 = std::chrono::steady_clock::now();
    std::unique_ptr<models::Cnn> ptq = copy_of(trained);
    prepare_cnn_outlier_ptq(*ptq, method, w8a8, o.llm_int8_threshold, calibration_batch(*ptq),
                            o.calibration_batches);
    add("ptq", method, *ptq, t0);
  }
  return rows;
}

}  // namespace octet::qat
