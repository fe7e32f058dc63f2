#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "framework/data/fashion_mnist.h"
#include "framework/data/text.h"
#include "framework/io/checkpoint.h"
#include "framework/parallel/communicator.h"
#include "framework/train/image_classifier.h"
#include "ops/cpu/gemm.h"
#include "qat/cnn_experiment.h"
#include "qat/cnn_outlier_ptq.h"
#include "qat/export.h"
#include "qat/llm_int8.h"
#include "qat/lm_experiment.h"
#include "qat/schemes.h"
#include "runtime/evaluate.h"
#include "runtime/generate.h"
#include "runtime/loaded_model.h"
#include "tools/commands/compare_commands.h"
#include "tools/commands/compare_report.h"
#include "tools/commands/compare_settings.h"
#include "tools/commands/recipe_runs.h"
#include "tools/commands/training_monitor.h"

namespace octet::tools {
namespace {

using Row = CompareRow;
using Report = CompareReport;

// PTQ methods beyond the named schemes (both experiments have them; qat/cnn_outlier_ptq.h says
// what they quantize on the CNN).
const std::vector<std::string>& kOutlierMethods = qat::kCnnOutlierMethods;

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string join(const std::vector<std::string>& names) {
  std::string all;
  for (const std::string& n : names) all += (all.empty() ? "" : ", ") + n;
  return all.empty() ? "none" : all;
}

// ---- shared options -------------------------------------------------------------------------

void add_common(CLI::App* cmd, CompareCommon& c, int64_t& qat_steps, int64_t& calibration_batches) {
  cmd->add_option("--schemes", c.schemes, "PTQ schemes (comma-separated)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--qat-schemes", c.qat_schemes, "QAT schemes (comma-separated)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--qat-steps", qat_steps, "QAT (and FP32 control) fine-tuning steps")
      ->capture_default_str();
  cmd->add_option("--calibration-batches", calibration_batches, "PTQ calibration batches")
      ->capture_default_str();
  cmd->add_option("--out-dir", c.out_dir, "where the .qmodel files and reports go")
      ->capture_default_str();
}

// Unknown names fail before any training. Splits off the outlier-aware PTQ methods.
std::vector<std::string> check_schemes(const CompareCommon& c, std::vector<std::string>& outlier) {
  std::vector<std::string> named;
  for (const std::string& s : c.schemes) {
    if (contains(kOutlierMethods, s)) {
      outlier.push_back(s);
      continue;
    }
    OCTET_CHECK(contains(qat::scheme_names(), s), "compare", "unknown PTQ scheme '", s,
                "' (known: ", join(qat::scheme_names()), ", ", join(kOutlierMethods), ")");
    named.push_back(s);
  }
  for (const std::string& s : c.qat_schemes) qat::scheme_config(s);  // throws naming the known
  std::filesystem::create_directories(c.out_dir);
  return named;
}

// Writes `model` to <dir>/<method>[_<scheme>].qmodel; the row gets its file and size. The file's
// provenance names `provenance_scheme` when set (what a method did to which layers).
Row export_row(nn::Module& model, proto::QModel description, const std::string& method,
               const std::string& scheme, const std::string& dir,
               const std::string& provenance_scheme = "") {
  Row row;
  row.method = method;
  row.scheme = scheme;
  proto::Provenance& p = *description.mutable_provenance();
  p.set_method(method == "fp32_finetune" ? "fp32" : method);
  p.set_scheme(!provenance_scheme.empty() ? provenance_scheme
               : scheme == "smoothquant"  ? "smoothquant+w8a8"
                                          : scheme);
  p.set_recipe("octet compare");
  row.file = dir + "/" + method + (scheme.empty() ? "" : "_" + scheme) + ".qmodel";
  row.bytes = qat::export_qmodel(model, description, row.file);
  return row;
}

// Fills each row's fake-quant metric and time from the experiment's rows (same order).
template <typename ExperimentRow, typename Metric>
void attach(std::vector<Row>& rows, const std::vector<ExperimentRow>& experiment, Metric metric) {
  OCTET_CHECK(rows.size() == experiment.size(), "compare", "exported ", rows.size(), " models for ",
              experiment.size(), " experiment rows");
  for (size_t i = 0; i < rows.size(); ++i) {
    OCTET_CHECK(
        rows[i].label() ==
            experiment[i].method + (experiment[i].scheme.empty() ? "" : " " + experiment[i].scheme),
        "compare", "row ", i, " is ", rows[i].label());
    rows[i].fake_quant = metric(experiment[i]);
    rows[i].prepare_seconds = experiment[i].seconds;
  }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Latency per batch and throughput of every row's .qmodel, measured once all exist: a few
// rounds over the files in turn, keeping each one's fastest, so load from other processes hits
// every row alike instead of whichever ran at a bad moment. `seconds_per_batch` times one pass.
constexpr int64_t kTimedBatches = 4;
constexpr int kTimedRounds = 3;
void measure_speed(std::vector<Row>& rows, int64_t items_per_batch,
                   const std::function<double(const runtime::LoadedModel&)>& seconds_per_batch) {
  std::vector<std::unique_ptr<runtime::LoadedModel>> models;
  for (Row& row : rows) {
    models.push_back(runtime::LoadedModel::open(row.file));
    seconds_per_batch(*models.back());  // untimed: the first call sizes per-thread scratch
    row.ms_per_batch = INFINITY;
  }
  for (int round = 0; round < kTimedRounds; ++round) {
    for (size_t i = 0; i < rows.size(); ++i)
      rows[i].ms_per_batch = std::min(rows[i].ms_per_batch, 1e3 * seconds_per_batch(*models[i]));
  }
  for (Row& row : rows)
    row.per_second = 1e3 * static_cast<double>(items_per_batch) / row.ms_per_batch;
}

std::string timing_note() {
  return "Latency and throughput: the fastest of " + std::to_string(kTimedRounds) +
         " interleaved rounds of " + std::to_string(kTimedBatches) + " batches per .qmodel on " +
         std::to_string(cpu::num_threads()) + " threads; speed-up vs the FP32 .qmodel.";
}

// The schemes along the chart's x axis: PTQ order, then QAT-only ones, then the outlier methods.
std::vector<std::string> categories(std::vector<std::string> schemes, const CompareCommon& c,
                                    const std::vector<std::string>& outlier) {
  for (const std::string& q : c.qat_schemes)
    if (!contains(schemes, q)) schemes.push_back(q);
  schemes.insert(schemes.end(), outlier.begin(), outlier.end());
  return schemes;
}

void log_line(const std::string& line) { std::cout << line << std::endl; }

// Under mpirun the ranks train together; what follows the experiment (the report, the runtime's
// speed) is rank 0's alone: the others return, and rank 0 takes the node's cores for the timing,
// so its numbers mean what they mean in one process. True on the rank that goes on.
bool rank_zero_alone() {
  parallel::Communicator& world = parallel::world();
  if (world.size() == 1) return true;
  if (!world.is_root()) return false;
  // mpirun binds each rank to its share of the cores; widen this thread's mask first, so the
  // OpenMP threads made for the timing inherit all of them instead of crowding one core.
  cpu_set_t all;
  CPU_ZERO(&all);
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  for (int c = 0; c < cores && c < CPU_SETSIZE; ++c) CPU_SET(c, &all);
  sched_setaffinity(0, sizeof all, &all);  // best effort: a refusal leaves the binding as it was
  cpu::set_num_threads(std::max(cpu::num_threads(), cores));
  return true;
}

// ---- compare cnn ------------------------------------------------------------------------------

// "fc1 3 of 3136, fc2 0 of 128": the calibrated outlier columns of each LLM.int8() layer.
std::string describe_outliers(nn::Module& model) {
  std::string out;
  for (auto& [name, module] : model.named_modules()) {
    if (const auto* llm = dynamic_cast<const qat::LlmInt8Linear*>(module)) {
      out += (out.empty() ? "" : ", ") + name + " " +
             std::to_string(llm->input_fake_quant().calibrated_columns().size()) + " of " +
             std::to_string(llm->in_features());
    }
  }
  return out;
}

// What the outlier-aware PTQ rows did, or that they were not asked for.
std::string outlier_note(const std::vector<std::string>& outlier, double threshold,
                         const std::string& outlier_columns) {
  if (outlier.empty())
    return "llm_int8 and smoothquant: skipped (not asked for: add them to --schemes, or to the "
           "recipe's quantization.ptq_methods).";
  std::string note;
  for (const std::string& m : outlier) {
    note += (note.empty() ? "" : " ") + m + ": " + qat::cnn_outlier_layout(m);
    if (m == "llm_int8")
      note += " (threshold " + fixed(threshold, 1) + "; outlier columns " +
              (outlier_columns.empty() ? std::string("not recorded") : outlier_columns) + ")";
    note += ".";
  }
  return note;
}

// The FP32 model: loaded from s.checkpoint, else trained (and saved to s.save if set). Returns
// the line the report says about it.
std::string fp32_cnn(const CnnCompareSettings& s, models::Cnn& model) {
  if (!s.checkpoint.empty()) {
    io::load_model_weights(s.checkpoint, model);
    return "FP32: checkpoint " + s.checkpoint + ".";
  }
  train::CnnTrainOptions base = s.base;
  base.data_dir = s.experiment.data_dir;
  base.log = log_line;
  TrainingMonitor monitor("fp32", "samples/s", s.common.out_dir);
  base.after_step = [&](const train::StepReport& step) { monitor.on_step(step); };
  const train::CnnTrainResult trained = train::train_cnn(base, &model);
  monitor.finish();
  monitor.record({{"test_accuracy", trained.test_accuracy}, {"seconds", trained.seconds}});
  if (!s.save.empty() && parallel::world().is_root()) {
    train::save_cnn_checkpoint(s.save, model);
    log_line("FP32 checkpoint written to " + s.save);
  }
  return "FP32: " + std::to_string(base.epochs) + " epochs" +
         (base.train_limit > 0 ? " on the first " + std::to_string(base.train_limit) + " images"
                               : "") +
         ", seed " + std::to_string(base.seed) + " (" + fixed(trained.seconds, 1) + " s).";
}

}  // namespace

int run_compare_cnn(const CnnCompareSettings& s) {
  std::vector<std::string> outlier;
  const std::vector<std::string> schemes = check_schemes(s.common, outlier);
  const std::string& dir = s.common.out_dir;
  const qat::CnnQuantOptions& e = s.experiment;
  const ImageDataset test =
      load_fashion_mnist(e.data_dir.empty() ? kFashionMnistDir : e.data_dir, false);
  const Tensor images = train::normalize_images(test.images.data(), test.n);

  const std::string world = describe_world();
  Generator init(s.base.seed);
  models::Cnn model(s.model, init);
  const std::string fp32_note =
      fp32_cnn(s, model) + (world.empty() ? "" : " Training data-parallel: " + world + ".");

  Report r;
  r.task = "cnn";
  r.batch = std::to_string(s.eval_batch) + " images";
  r.per_second_unit = "images/s";
  qat::CnnQuantOptions o = e;
  o.schemes = schemes;
  o.qat_schemes = s.common.qat_schemes;
  o.ptq_methods = outlier;
  o.log = log_line;
  // A progress bar (and metrics lines, and a loss chart) per fine-tuning row, like FP32's.
  std::map<std::string, std::unique_ptr<TrainingMonitor>> finetunes;
  o.on_finetune_start = [&](const std::string& row) {
    finetunes[row] = std::make_unique<TrainingMonitor>(row, "samples/s", dir);
  };
  o.on_finetune_step = [&](const std::string& row, const train::StepReport& step) {
    TrainingMonitor& monitor = *finetunes.at(row);
    monitor.on_step(step);
    if (step.step == step.total) monitor.finish();
  };
  std::string outlier_columns;  // the llm_int8 row's calibrated outlier columns per fc layer
  o.on_model = [&](const std::string& method, const std::string& scheme, models::Cnn& m) {
    if (!parallel::world().is_root()) return;
    const bool outlier_method = method == "ptq" && contains(outlier, scheme);
    Row row = export_row(m, qat::describe_model(m), method, scheme, dir,
                         !outlier_method        ? ""
                         : scheme == "llm_int8" ? "llm_int8(fc)+w8a8(conv)"
                                                : "smoothquant+w8a8");
    if (outlier_method) row.detail = qat::cnn_outlier_layout(scheme);
    if (outlier_method && scheme == "llm_int8") outlier_columns = describe_outliers(m);
    const auto deployed = runtime::LoadedModel::open(row.file);
    const runtime::CnnRuntime& cnn = *deployed->cnn();
    const runtime::ClassifierResult c = runtime::evaluate_classifier(
        cnn, images.data<float>(), test.labels.data(), test.n, s.eval_batch);
    row.runtime = c.accuracy;
    log_line("  runtime " + row.file + ": accuracy " + fixed(100.0 * c.accuracy, 2) + "%");
    r.rows.push_back(row);
  };
  const std::vector<qat::CnnQuantRow> experiment = qat::compare_cnn_quantization(model, o);
  if (!rank_zero_alone()) return 0;
  attach(r.rows, experiment, [](const qat::CnnQuantRow& row) { return row.accuracy; });
  const int64_t timed = std::min(test.n, kTimedBatches * s.eval_batch);
  std::vector<float> logits;
  measure_speed(r.rows, s.eval_batch, [&](const runtime::LoadedModel& m) {
    logits.resize(static_cast<size_t>(timed * m.cnn()->classes()));
    const auto t0 = std::chrono::steady_clock::now();
    m.cnn()->logits(images.data<float>(), timed, logits.data(), s.eval_batch);
    return seconds_since(t0) * static_cast<double>(s.eval_batch) / static_cast<double>(timed);
  });

  r.categories = categories(schemes, s.common, outlier);
  std::vector<std::string> ptq_names = schemes;
  ptq_names.insert(ptq_names.end(), outlier.begin(), outlier.end());
  r.title = "octet compare cnn: Fashion-MNIST CNN, FP32 " + fixed(100.0 * r.rows[0].runtime, 2) +
            "% test accuracy";
  r.notes = {
      fp32_note,
      "PTQ (" + join(ptq_names) + "): calibrated on " + std::to_string(e.calibration_batches) +
          " batches of " + std::to_string(e.batch) + " training images. QAT (" +
          join(s.common.qat_schemes) +
          ") and fp32_finetune (its FP32 control): " + std::to_string(e.finetune_steps) +
          " steps of " + std::to_string(e.batch) + " at lr " + fixed(e.finetune_lr, 5) + ".",
      outlier_note(outlier, e.llm_int8_threshold, outlier_columns),
      "Accuracy on the 10k test images by octet's runtime from each .qmodel; fake-quant: the "
      "in-memory model before export (must agree within 0.1 point).",
      timing_note()};
  publish_comparison(r, dir);
  return 0;
}

// ---- compare lm -------------------------------------------------------------------------------

namespace {

// The checkpoint to start from: the given one, or a model trained here and saved into `dir`.
std::string fp32_checkpoint(const LmCompareSettings& s, std::shared_ptr<const TextDataset> text) {
  if (!s.experiment.checkpoint.empty()) return s.experiment.checkpoint;
  train::LmTrainOptions t = s.experiment.model;
  t.steps = s.train_steps;
  t.lr = s.train_lr;
  t.warmup = std::min<int64_t>(100, s.train_steps / 10);
  train::LmTrainer trainer(t, text);
  const auto t0 = std::chrono::steady_clock::now();
  while (trainer.steps_done() < t.steps) {
    const double loss = trainer.step();
    if (trainer.steps_done() % std::max<int64_t>(1, t.steps / 5) == 0) {
      log_line(
          "fp32 step " + std::to_string(trainer.steps_done()) + ": train loss " + fixed(loss, 4) +
          " (" +
          fixed(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1) +
          " s)");
    }
  }
  const std::string path = s.common.out_dir + "/fp32.ckpt";
  trainer.save(path);
  return path;
}

}  // namespace

int run_compare_lm(const LmCompareSettings& s) {
  std::vector<std::string> outlier;
  const std::vector<std::string> schemes = check_schemes(s.common, outlier);
  const std::string& dir = s.common.out_dir;
  auto text = std::make_shared<const TextDataset>(load_kjv_text());
  qat::LmQuantOptions o = s.experiment;
  o.checkpoint = fp32_checkpoint(s, text);
  const int64_t block = o.model.model.block;
  std::vector<int64_t> x, y, prompt(s.prompt.begin(), s.prompt.end());
  text->gather(text->eval_windows(Split::kValidation, block, o.model.eval_windows), x, y);
  const int64_t windows = static_cast<int64_t>(x.size()) / block;
  for (int64_t& t : prompt) t = static_cast<unsigned char>(t);

  Report r;
  r.accuracy = false;
  r.task = "lm";
  r.batch = std::to_string(s.eval_batch) + " windows";
  r.per_second_unit = "tokens/s";
  r.prompt = s.prompt;
  o.schemes = schemes;
  o.qat_schemes = s.common.qat_schemes;
  o.ptq_methods = outlier;
  o.log = log_line;
  o.on_model = [&](const std::string& method, const std::string& scheme, models::LanguageModel& m) {
    if (!parallel::world().is_root()) return;
    proto::QModel description = qat::describe_model(m);
    description.mutable_provenance()->set_source_checkpoint(o.checkpoint);
    Row row = export_row(m, description, method, scheme, dir);
    const auto deployed = runtime::LoadedModel::open(row.file);
    const runtime::TransformerRuntime& lm = *deployed->decoder();
    const runtime::LanguageModelResult e =
        runtime::evaluate_language_model(lm, x.data(), y.data(), windows, block, s.eval_batch);
    row.runtime = e.loss;
    runtime::SamplingOptions greedy;
    greedy.max_new_tokens = s.tokens;
    for (int64_t t : runtime::generate(lm, prompt, greedy).tokens)
      row.sample += static_cast<char>(t);
    log_line("  runtime " + row.file + ": loss " + fixed(e.loss, 4) + " nats/byte");
    r.rows.push_back(row);
  };
  const std::vector<qat::LmQuantRow> experiment = qat::compare_lm_quantization(text, o);
  if (!rank_zero_alone()) return 0;
  attach(r.rows, experiment, [](const qat::LmQuantRow& row) { return row.val_loss; });
  const int64_t timed = std::min(windows, kTimedBatches * s.eval_batch);
  measure_speed(r.rows, s.eval_batch * block, [&](const runtime::LoadedModel& m) {
    const runtime::LanguageModelResult e = runtime::evaluate_language_model(
        *m.decoder(), x.data(), y.data(), timed, block, s.eval_batch);
    return e.seconds * static_cast<double>(s.eval_batch) / static_cast<double>(timed);
  });

  r.categories = categories(schemes, s.common, outlier);
  std::vector<std::string> ptq_names = schemes;
  ptq_names.insert(ptq_names.end(), outlier.begin(), outlier.end());
  const models::GptConfig& g = o.model.model;
  r.title = "octet compare lm: byte-level " + o.model.arch + " d" + std::to_string(g.dim) + " L" +
            std::to_string(g.layers) + " on KJV, FP32 " + fixed(r.rows[0].runtime, 3) +
            " nats/byte";
  r.notes = {"FP32 checkpoint " + o.checkpoint + " (" + o.model.arch + ", dim " +
                 std::to_string(g.dim) + ", " + std::to_string(g.layers) + " layers, " +
                 std::to_string(g.heads) + " heads, context " + std::to_string(block) + ").",
             "PTQ (" + join(ptq_names) + "): calibrated on " +
                 std::to_string(o.calibration_batches) + " batches of " +
                 std::to_string(o.model.batch) + ". QAT (" + join(s.common.qat_schemes) +
                 ") and fp32_finetune (its FP32 control): " + std::to_string(o.finetune_steps) +
                 " steps at lr " + fixed(o.finetune_lr, 5) + ".",
             "Validation loss on " + std::to_string(windows) + " held-out windows of " +
                 std::to_string(block) +
                 " bytes by octet's runtime; fake-quant: the in-memory model "
                 "before export (must agree within 1e-3 relative).",
             timing_note()};
  publish_comparison(r, dir);
  return 0;
}

std::function<int()> add_compare_command(CLI::App& app) {
  CLI::App* compare = app.add_subcommand(
      "compare",
      "FP32 vs every PTQ scheme vs QAT, exported and run by octet's runtime: table+chart "
      "(--recipe R, or cnn / lm with flags)");
  compare->require_subcommand(0, 1);
  auto recipe = std::make_shared<RecipeArgs>();
  add_recipe_options(compare, *recipe);

  auto cnn = std::make_shared<CnnCompareSettings>();
  CLI::App* c = compare->add_subcommand("cnn", "the Fashion-MNIST CNN (trained here)");
  add_common(c, cnn->common, cnn->experiment.finetune_steps, cnn->experiment.calibration_batches);
  c->add_option("--epochs", cnn->base.epochs, "FP32 training epochs")->capture_default_str();
  c->add_option("--train-limit", cnn->base.train_limit,
                "FP32 training on the first N images (0: all)");
  c->add_option("--seed", cnn->base.seed, "FP32 seed")->capture_default_str();
  c->add_option("--qat-lr", cnn->experiment.finetune_lr, "fine-tuning lr")->capture_default_str();
  c->add_option("--eval-batch", cnn->eval_batch, "runtime batch")->capture_default_str();
  c->add_option("--data", cnn->experiment.data_dir, "Fashion-MNIST directory");

  auto lm = std::make_shared<LmCompareSettings>();
  lm->common.schemes.insert(lm->common.schemes.end(), kOutlierMethods.begin(),
                            kOutlierMethods.end());
  qat::LmQuantOptions& e = lm->experiment;
  e.model.model.dim = 128;
  e.model.model.layers = 2;
  e.model.model.heads = 4;
  e.model.model.block = 64;
  e.finetune_steps = 100;
  CLI::App* l = compare->add_subcommand("lm", "a byte-level LM on KJV (a checkpoint or trained)");
  add_common(l, lm->common, e.finetune_steps, e.calibration_batches);
  l->add_option("--checkpoint", e.checkpoint, "FP32 checkpoint (empty: train one here)");
  l->add_option("--arch", e.model.arch, "gpt or llama")->capture_default_str();
  l->add_option("--dim", e.model.model.dim, "width")->capture_default_str();
  l->add_option("--layers", e.model.model.layers, "blocks")->capture_default_str();
  l->add_option("--heads", e.model.model.heads, "heads")->capture_default_str();
  l->add_option("--block", e.model.model.block, "context length")->capture_default_str();
  l->add_option("--batch", e.model.batch, "sequences per step")->capture_default_str();
  l->add_option("--train-steps", lm->train_steps, "FP32 steps without --checkpoint")
      ->capture_default_str();
  l->add_option("--train-lr", lm->train_lr, "FP32 lr")->capture_default_str();
  l->add_option("--qat-lr", e.finetune_lr, "fine-tuning lr")->capture_default_str();
  l->add_option("--eval-windows", e.model.eval_windows, "validation windows")
      ->capture_default_str();
  l->add_option("--prompt", lm->prompt, "generation prompt")->capture_default_str();
  l->add_option("--tokens", lm->tokens, "bytes generated per model")->capture_default_str();

  return [compare, c, l, cnn, lm, recipe]() {
    if (!*compare) return -1;
    require_recipe_or_subcommand(*compare, *recipe);
    if (*c) return run_compare_cnn(*cnn);
    if (*l) return run_compare_lm(*lm);
    return run_compare_recipe(load_recipe(recipe->path, recipe->sets));
  };
}

}  // namespace octet::tools
