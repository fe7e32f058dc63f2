#include "framework/train/language_model.h"

#include <utility>
#include <vector>

#include "framework/autocast.h"
#include "framework/data/batching.h"
#include "framework/io/checkpoint.h"
#include "framework/parallel/statistics_sync.h"
#include "framework/tensor/autograd.h"

namespace octet::train {

std::map<std::string, std::string> lm_architecture_metadata(const std::string& arch,
                                                            const models::GptConfig& c) {
  return {{"arch", arch},
          {"model.vocab", std::to_string(c.vocab)},
          {"model.dim", std::to_string(c.dim)},
          {"model.layers", std::to_string(c.layers)},
          {"model.heads", std::to_string(c.heads)},
          {"model.block", std::to_string(c.block)},
          {"model.mlp_hidden", std::to_string(c.mlp_hidden)},
          {"model.dropout", std::to_string(c.dropout)}};
}

bool has_lm_architecture(const std::map<std::string, std::string>& metadata) {
  return metadata.count("model.dim") != 0;
}

void lm_architecture_from_metadata(const std::map<std::string, std::string>& metadata,
                                   const std::string& source, LmTrainOptions& o) {
  const auto arch = metadata.find("arch");
  OCTET_CHECK(arch != metadata.end(), "checkpoint", source, ": metadata 'arch' missing");
  auto integer = [&](const std::string& key, int64_t min) {
    const double v = io::metadata_number(metadata, key, source);
    OCTET_CHECK(v >= static_cast<double>(min) && v == static_cast<double>(static_cast<int64_t>(v)),
                "checkpoint", source, ": metadata '", key, "' is ", v, ", not an integer >= ", min);
    return static_cast<int64_t>(v);
  };
  o.arch = arch->second;
  o.model.vocab = integer("model.vocab", 1);
  o.model.dim = integer("model.dim", 1);
  o.model.layers = integer("model.layers", 1);
  o.model.heads = integer("model.heads", 1);
  o.model.block = integer("model.block", 1);
  o.model.mlp_hidden = integer("model.mlp_hidden", 0);
  o.model.dropout = io::metadata_number(metadata, "model.dropout", source);
}

std::unique_ptr<models::LanguageModel> make_language_model(const std::string& arch,
                                                           const models::GptConfig& config,
                                                           Generator& gen) {
  if (arch == "gpt") return std::make_unique<models::Gpt>(config, gen);
  if (arch == "llama") return std::make_unique<models::Llama>(config, gen);
  throw Error("lm", "unknown architecture '" + arch + "' (expected gpt or llama)");
}

LmTrainer::LmTrainer(const LmTrainOptions& o, std::shared_ptr<const TextDataset> text)
    : o_(o),
      text_(std::move(text)),
      init_gen_(o.seed),
      data_gen_(o.seed + 1),
      schedule_{o.lr, o.min_lr, o.warmup, o.steps},
      bf16_(autocast_from_precision(o.precision, "lm").has_value()),
      comm_(o.communicator ? o.communicator : &parallel::world()) {
  OCTET_CHECK(o.batch >= comm_->size() * o.accumulation_steps, "lm", "global batch ", o.batch,
              " is smaller than ", comm_->size(), " ranks x ", o.accumulation_steps,
              " micro-batches");
  // Dropout masks differ per rank, as the rows they fall on do; rank 0 keeps the one-process seed.
  dropout_gen_ = Generator(parallel::per_rank_seed(o.seed + 2, comm_->rank()));
  model_ = make_language_model(o.arch, o.model, init_gen_);
  if (o.prepare_model) o.prepare_model(*model_);
  model_->to(o.device);
  data_parallel_ = std::make_unique<parallel::DataParallel>(*model_, *comm_, o.data_parallel);
  optimizer_ = std::make_unique<optim::AdamW>(
      model_->named_parameters(), optim::AdamWOptions{o.lr, 0.9, 0.95, 1e-8, o.weight_decay, 2});
}

double LmTrainer::step() {
  // Every rank draws the whole global batch (the same windows, from the same generator state)
  // and trains on its share of the rows.
  std::vector<int64_t> x, y;
  text_->sample(Split::kTrain, o_.batch, o_.model.block, data_gen_, x, y);
  const RankShare share = rank_share(0, o_.batch, comm_->rank(), comm_->size());
  const int64_t block = o_.model.block;
  // The losses are read once the whole step is queued: reading one mid-step would make the host
  // wait for the device's forward pass before it could queue the backward.
  std::vector<std::pair<Tensor, double>> losses;  // (loss, weight of its micro-batch)
  for (int64_t m = 0; m < o_.accumulation_steps; ++m) {
    const RankShare micro = rank_share(share.begin, share.end, static_cast<int>(m),
                                       static_cast<int>(o_.accumulation_steps));
    const Shape shape{micro.size(), block};
    auto rows = [&](const std::vector<int64_t>& v) {
      return Tensor::from_vector(std::vector<int64_t>(v.begin() + micro.begin * block,
                                                      v.begin() + micro.end * block),
                                 shape)
          .to(o_.device);
    };
    // The precision holds for this step whatever the caller's thread had set.
    AutocastGuard precision(DType::bf16, bf16_);
    Tensor loss;
    {
      parallel::StatisticsSyncScope sync(*comm_);
      loss = models::lm_loss(model_->forward(rows(x), dropout_gen_), rows(y));
    }
    losses.emplace_back(loss.detach(),
                        static_cast<double>(micro.size()) / static_cast<double>(share.size()));
    data_parallel_->backward_share(loss, micro.size(), o_.batch, m + 1 == o_.accumulation_steps);
  }
  if (o_.clip > 0) optim::clip_grad_norm_nowait(model_->parameters(), o_.clip);
  optimizer_->set_lr(schedule_.at(step_));
  optimizer_->step();
  optimizer_->zero_grad();
  ++step_;
  double step_loss = 0;
  for (const auto& [loss, weight] : losses) step_loss += loss.item() * weight;
  return step_loss;
}

double LmTrainer::validation_loss() {
  NoGradGuard no_grad;
  model_->eval();
  const auto windows = text_->eval_windows(Split::kValidation, o_.model.block, o_.eval_windows);
  const RankShare share =
      rank_share(0, static_cast<int64_t>(windows.size()), comm_->rank(), comm_->size());
  double total = 0;
  const int64_t chunk = 16;
  for (int64_t b = share.begin; b < share.end; b += chunk) {
    std::vector<TextWindow> part(windows.begin() + b,
                                 windows.begin() + std::min(share.end, b + chunk));
    std::vector<int64_t> x, y;
    text_->gather(part, x, y);
    const Shape shape{static_cast<int64_t>(part.size()), o_.model.block};
    Tensor loss =
        models::lm_loss(model_->forward(Tensor::from_vector(x, shape).to(o_.device), dropout_gen_),
                        Tensor::from_vector(y, shape).to(o_.device));
    total += loss.item() * static_cast<double>(part.size());
  }
  model_->train();
  total = comm_->allreduce_scalar(total, parallel::ReduceOp::kSum);
  return total / static_cast<double>(windows.size());
}

void LmTrainer::save(const std::string& path) {
  if (!comm_->is_root()) {
    comm_->barrier();
    return;
  }
  io::TrainingState state{model_.get(),
                          optimizer_.get(),
                          {{"data", &data_gen_}, {"dropout", &dropout_gen_}},
                          step_,
                          {}};
  state.metadata = lm_architecture_metadata(o_.arch, o_.model);
  io::save_checkpoint(path, state);
  comm_->barrier();
}

void LmTrainer::load(const std::string& path) {
  io::TrainingState state{
      model_.get(), optimizer_.get(), {{"data", &data_gen_}, {"dropout", &dropout_gen_}}, 0, {}};
  io::load_checkpoint(path, state);
  step_ = state.step;
}

void LmTrainer::load_weights(const std::string& path) { io::load_model_weights(path, *model_); }

void LmTrainer::forward_training_batch() {
  NoGradGuard no_grad;
  std::vector<int64_t> x, y;
  text_->sample(Split::kTrain, o_.batch, o_.model.block, data_gen_, x, y);
  model_->forward(Tensor::from_vector(x, {o_.batch, o_.model.block}).to(o_.device), dropout_gen_);
}

}  // namespace octet::train
