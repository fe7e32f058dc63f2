#include "framework/train/image_classifier.h"

#include <chrono>
#include <cstring>
#include <sstream>

#include "framework/data/batching.h"
#include "framework/data/fashion_mnist.h"
#include "framework/functional/arithmetic.h"
#include "framework/functional/softmax.h"
#include "framework/io/checkpoint.h"
#include "framework/optim/optimizer.h"
#include "framework/parallel/statistics_sync.h"
#include "framework/tensor/autograd.h"

namespace octet::train {
namespace {

constexpr double kMean = 0.2860, kStd = 0.3530;  // Fashion-MNIST training-set pixel statistics
constexpr int64_t kPixels = 28 * 28;

// Rows `order[begin, end)` of images/labels as one batch.
void make_batch(const Tensor& images, const uint8_t* labels, const std::vector<int64_t>& order,
                int64_t begin, int64_t end, Tensor& x, Tensor& y) {
  const int64_t n = end - begin;
  x = Tensor::empty({n, 1, 28, 28});
  y = Tensor::empty({n}, DType::i64);
  const float* src = images.data<float>();
  float* dst = x.data<float>();
  int64_t* lab = y.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = order[begin + i];
    std::memcpy(dst + i * kPixels, src + row * kPixels, kPixels * sizeof(float));
    lab[i] = labels[row];
  }
}

}  // namespace

std::map<std::string, std::string> cnn_architecture_metadata(const models::CnnConfig& c) {
  return {{"arch", "cnn"},
          {"model.channels1", std::to_string(c.channels1)},
          {"model.channels2", std::to_string(c.channels2)},
          {"model.hidden", std::to_string(c.hidden)},
          {"model.classes", std::to_string(c.classes)},
          {"model.dropout", std::to_string(c.dropout)}};
}

models::CnnConfig cnn_config_from_metadata(const std::map<std::string, std::string>& metadata,
                                           const std::string& source) {
  auto count = [&](const std::string& key) {
    const double v = io::metadata_number(metadata, key, source);
    OCTET_CHECK(v >= 1 && v == static_cast<double>(static_cast<int64_t>(v)), "checkpoint", source,
                ": metadata '", key, "' is ", v, ", not a positive integer");
    return static_cast<int64_t>(v);
  };
  models::CnnConfig c;
  c.channels1 = count("model.channels1");
  c.channels2 = count("model.channels2");
  c.hidden = count("model.hidden");
  c.classes = count("model.classes");
  c.dropout = io::metadata_number(metadata, "model.dropout", source);
  return c;
}

void save_cnn_checkpoint(const std::string& path, models::Cnn& model) {
  io::TrainingState state;
  state.model = &model;
  state.metadata = cnn_architecture_metadata(model.config());
  io::save_checkpoint(path, state);
}

Tensor normalize_images(const uint8_t* pixels, int64_t n) {
  Tensor out = Tensor::empty({n, 1, 28, 28});
  float* p = out.data<float>();
  for (int64_t i = 0; i < n * kPixels; ++i)
    p[i] = static_cast<float>((pixels[i] / 255.0 - kMean) / kStd);
  return out;
}

double evaluate_accuracy(models::Cnn& model, const Tensor& images, const uint8_t* labels,
                         parallel::Communicator* communicator) {
  parallel::Communicator& comm = communicator ? *communicator : parallel::world();
  NoGradGuard no_grad;
  model.eval();
  Generator unused(0);
  const int64_t n = images.size(0), chunk = 1000;
  const std::vector<Tensor> params = model.parameters();
  const Device device = params.empty() ? Device{} : params.front().device();
  const RankShare share = rank_share(0, n, comm.rank(), comm.size());
  int64_t correct = 0;
  for (int64_t b = share.begin; b < share.end; b += chunk) {
    const int64_t e = std::min(share.end, b + chunk);
    Tensor pred = argmax(model.forward(images.slice(0, b, e).to(device), unused)).cpu();
    const int64_t* p = pred.data<int64_t>();
    for (int64_t i = 0; i < e - b; ++i) correct += p[i] == labels[b + i];
  }
  model.train();
  const double total =
      comm.allreduce_scalar(static_cast<double>(correct), parallel::ReduceOp::kSum);
  return total / static_cast<double>(n);
}

CnnTrainResult train_cnn(const CnnTrainOptions& o, models::Cnn* model_out) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string dir = o.data_dir.empty() ? kFashionMnistDir : o.data_dir;
  ImageDataset train = load_fashion_mnist(dir, true);
  ImageDataset test = load_fashion_mnist(dir, false);
  const int64_t n_train = o.train_limit > 0 ? std::min(o.train_limit, train.n) : train.n;
  const int64_t n_test = o.test_limit > 0 ? std::min(o.test_limit, test.n) : test.n;
  Tensor train_x = normalize_images(train.images.data(), n_train);
  Tensor test_x = normalize_images(test.images.data(), n_test);

  parallel::Communicator& comm = o.communicator ? *o.communicator : parallel::world();
  OCTET_CHECK(o.batch >= comm.size() * o.accumulation_steps, "train_cnn", "global batch ", o.batch,
              " is smaller than ", comm.size(), " ranks x ", o.accumulation_steps,
              " micro-batches");
  // Every rank draws the same epoch order (data_gen) and initial weights; dropout masks differ
  // per rank, as the rows they fall on do.
  Generator init_gen(o.seed), data_gen(o.seed + 1),
      dropout_gen(parallel::per_rank_seed(o.seed + 2, comm.rank()));
  std::unique_ptr<models::Cnn> owned;
  models::Cnn* model = model_out;
  if (!model) {
    owned = std::make_unique<models::Cnn>(models::CnnConfig{}, init_gen);
    model = owned.get();
  }
  model->to(o.device);
  parallel::DataParallel data_parallel(*model, comm, o.data_parallel);
  optim::AdamW opt(model->named_parameters(), {o.lr, 0.9, 0.999, 1e-8, o.weight_decay, 2});
  const int64_t steps_per_epoch = (n_train + o.batch - 1) / o.batch;
  const int64_t total_steps = o.epochs * steps_per_epoch;
  const optim::WarmupCosine schedule{o.lr, o.min_lr, o.warmup, total_steps};

  CnnTrainResult result;
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    std::vector<int64_t> order = shuffled_indices(n_train, data_gen);
    double loss_sum = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      const int64_t global_begin = s * o.batch, global_end = std::min(n_train, (s + 1) * o.batch);
      const RankShare share = rank_share(global_begin, global_end, comm.rank(), comm.size());
      if (o.before_step) o.before_step(result.steps);
      double step_loss = 0;
      for (int64_t m = 0; m < o.accumulation_steps; ++m) {
        const RankShare micro = rank_share(share.begin, share.end, static_cast<int>(m),
                                           static_cast<int>(o.accumulation_steps));
        Tensor x, y;
        make_batch(train_x, train.labels.data(), order, micro.begin, micro.end, x, y);
        Tensor loss;
        {
          parallel::StatisticsSyncScope sync(comm);
          loss = cross_entropy(model->forward(x.to(o.device), dropout_gen), y.to(o.device));
        }
        step_loss +=
            loss.item() * static_cast<double>(micro.size()) / static_cast<double>(share.size());
        data_parallel.backward_share(loss, micro.size(), global_end - global_begin,
                                     m + 1 == o.accumulation_steps);
      }
      opt.set_lr(schedule.at(result.steps));
      opt.step();
      opt.zero_grad();
      ++result.steps;
      loss_sum += step_loss;
      if (o.after_step)
        o.after_step({result.steps, total_steps, step_loss, schedule.at(result.steps - 1),
                      global_end - global_begin});
    }
    result.final_train_loss = comm.allreduce_scalar(loss_sum / static_cast<double>(steps_per_epoch),
                                                    parallel::ReduceOp::kAvg);
    result.test_accuracy = evaluate_accuracy(*model, test_x, test.labels.data(), &comm);
    if (o.log && comm.is_root()) {
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::ostringstream os;
      os << "epoch " << epoch + 1 << "/" << o.epochs << "  train loss " << result.final_train_loss
         << "  test accuracy " << 100.0 * result.test_accuracy << "%  (" << secs << " s)";
      o.log(os.str());
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace octet::train
