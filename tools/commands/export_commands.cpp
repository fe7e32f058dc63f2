#include "tools/commands/export_commands.h"

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "framework/data/fashion_mnist.h"
#include "framework/data/text.h"
#include "framework/io/archive_format.h"
#include "framework/io/checkpoint.h"
#include "framework/train/image_classifier.h"
#include "framework/train/language_model.h"
#include "qat/cnn_outlier_ptq.h"
#include "qat/export.h"
#include "qat/llm_int8.h"
#include "qat/prepare.h"
#include "qat/schemes.h"
#include "qat/smoothquant.h"
#include "runtime/loaded_model.h"
#include "tools/commands/export_check.h"
#include "tools/commands/recipe_mapping.h"
#include "tools/commands/recipe_runs.h"

namespace octet::tools {
namespace {

// "What you train is what you deploy": what is left between the runtime and the fake-quant model
// is f32 rounding (see tests/e2e/runtime_agreement_test.cpp).
constexpr double kMaxLogitsError = 1e-3;
constexpr double kMinArgmaxAgreement = 0.999;
// The sanity check against FP32 only catches a collapse: quantization itself costs a few percent.
constexpr double kMaxFp32LogitsError = 0.5, kMaxFp32LayerError = 0.5;
constexpr int64_t kCheckImages = 2048, kCheckWindows = 16;

struct Settings {
  std::string command;  // "ptq" or "export"
  std::string checkpoint, scheme, out, data_dir = kFashionMnistDir;
  int64_t calibration_batches = 16;
  int64_t batch = 0;  // 0: 128 images or 16 sequences
  double threshold = qat::kLlmInt8Threshold;
  int64_t qat_steps = 0;
  double lr = 0;  // 0: 5e-4 (cnn) or 3e-4 (language models)
  uint64_t seed = 1;
  int64_t eval_windows = 64;
  // Keep embedding tables and lm_head in f32 instead of int8 rows / weight-only int8.
  bool f32_tables = false;
  // Architecture overrides; empty / 0 / -1: as the checkpoint says.
  std::string arch;
  int64_t dim = 0, layers = 0, heads = 0, block = 0, mlp_hidden = -1;
  // From --recipe (apply_recipe): the recipe and its text for the provenance, the QatConfig of
  // a scheme (empty: qat::scheme_config's), the QAT observer freeze step (< 0: frozen by
  // calibration) and warm-up (< 0: min(20, qat_steps / 10)).
  RecipeArgs recipe;
  std::string recipe_text;
  std::function<qat::QatConfig(const std::string&)> quant_config;
  int64_t freeze_observers_at_step = -1, warmup = -1;
};

// What the model is, from the checkpoint's metadata and the flags.
struct ModelSpec {
  std::string arch;  // cnn, gpt, llama
  models::CnnConfig cnn;
  models::GptConfig lm;
};

std::map<std::string, std::string> checkpoint_metadata(const std::string& area,
                                                       const std::string& path) {
  OCTET_CHECK(std::filesystem::is_regular_file(path), area, path, ": no such checkpoint file");
  return io::checkpoint_metadata(path);
}

ModelSpec resolve_model(const Settings& s) {
  const auto meta = checkpoint_metadata(s.command, s.checkpoint);
  ModelSpec m;
  m.arch = !s.arch.empty() ? s.arch : meta.count("arch") ? meta.at("arch") : "";
  OCTET_CHECK(!m.arch.empty(), s.command, s.checkpoint,
              ": the checkpoint does not say which model it holds (no 'arch' metadata); pass "
              "--arch cnn, or --arch gpt|llama with --dim, --layers, --heads and --block as it "
              "was trained");
  if (m.arch == "cnn") {
    // `octet train cnn` builds the default CnnConfig, so without metadata that is the model.
    if (meta.count("model.channels1")) m.cnn = train::cnn_config_from_metadata(meta, s.checkpoint);
    return m;
  }
  OCTET_CHECK(m.arch == "gpt" || m.arch == "llama", s.command, s.checkpoint,
              ": unknown architecture '", m.arch, "' (known: cnn, gpt, llama)");
  if (train::has_lm_architecture(meta)) {
    train::LmTrainOptions o;
    train::lm_architecture_from_metadata(meta, s.checkpoint, o);
    m.lm = o.model;
  } else {
    std::string missing;
    for (const auto& [flag, value] : {std::pair<const char*, int64_t>{"--dim", s.dim},
                                      {"--layers", s.layers},
                                      {"--heads", s.heads},
                                      {"--block", s.block}})
      if (value <= 0) missing += std::string(missing.empty() ? "" : ", ") + flag;
    OCTET_CHECK(missing.empty(), s.command, s.checkpoint,
                ": the checkpoint does not record the model's dims (saved before checkpoints "
                "described their model); pass ",
                missing, " as it was trained");
  }
  if (s.dim > 0) m.lm.dim = s.dim;
  if (s.layers > 0) m.lm.layers = s.layers;
  if (s.heads > 0) m.lm.heads = s.heads;
  if (s.block > 0) m.lm.block = s.block;
  if (s.mlp_hidden >= 0) m.lm.mlp_hidden = s.mlp_hidden;
  return m;
}

// Swaps in the scheme's twins ("fp32": none; SmoothQuant's folding happens before, on FP32).
void prepare_for(const Settings& s, nn::Module& model) {
  if (s.scheme == "fp32") return;
  if (s.scheme == "llm_int8") {
    qat::prepare_llm_int8(model, s.threshold);
    return;
  }
  qat::QatConfig config;
  if (s.quant_config)
    config = s.quant_config(s.scheme);
  else
    config.layers = qat::scheme_config(s.scheme == "smoothquant" ? "w8a8" : s.scheme);
  // A skip pattern that matches nothing is a typo, not a choice (lm_head: the CNN has none).
  const nn::NamedTensors params = model.named_parameters();
  for (const std::string& pattern : config.skip) {
    const bool found = std::any_of(params.begin(), params.end(), [&](const auto& p) {
      return p.first.find(pattern) != std::string::npos;
    });
    OCTET_CHECK(found || pattern == "lm_head", s.command, "skip pattern '", pattern,
                "' matches no layer of the model");
  }
  qat::prepare(model, s.f32_tables ? config : qat::with_int8_embeddings_and_head(config));
}

uint64_t f32_bytes(const nn::Module& m) {
  uint64_t n = 0;
  for (const auto& [name, t] : m.named_parameters()) n += 4 * static_cast<uint64_t>(t.numel());
  return n;
}

proto::Provenance provenance(const Settings& s, const std::string& calibration) {
  proto::Provenance p;
  p.set_method(s.scheme == "fp32" ? "fp32" : s.qat_steps > 0 ? "qat" : "ptq");
  p.set_scheme(s.scheme == "smoothquant" ? "smoothquant+w8a8" : s.scheme);
  p.set_source_checkpoint(s.checkpoint);
  const io::MappedFile file = io::MappedFile::open_read_only(s.checkpoint, s.command);
  p.set_source_checkpoint_crc32(io::format::crc32(file.data(), file.size()));
  std::ostringstream recipe;
  recipe << "octet " << s.command << " --checkpoint " << s.checkpoint << " --scheme " << s.scheme
         << " --out " << s.out << " --calibration-batches " << s.calibration_batches;
  if (s.qat_steps > 0) recipe << " --qat-steps " << s.qat_steps << " --lr " << s.lr;
  if (s.scheme == "llm_int8") recipe << " --threshold " << s.threshold;
  p.set_recipe(s.recipe_text.empty()
                   ? recipe.str()
                   : recipe.str() + " --recipe " + s.recipe.path + "\n" + s.recipe_text);
  p.set_calibration(s.scheme == "fp32" ? "none" : calibration);
  return p;
}

void print_report(const char* what, const AgreementReport& r) {
  std::printf("%-34s %s\n", what, r.str().c_str());
  std::fflush(stdout);
}

// Opens the written file with the runtime and runs both checks; `compare` runs `model` and the
// deployed engine on the same inputs. Throws (after printing both reports) when one fails.
void check_export(const Settings& s, nn::Module& model, uint64_t file_bytes, uint64_t fp32_bytes,
                  const std::function<AgreementReport(const runtime::LoadedModel&)>& compare) {
  const auto deployed = runtime::LoadedModel::open(s.out);
  const AgreementReport trained = compare(*deployed);
  print_report("runtime vs fake-quant model:", trained);
  qat::enable_fake_quant(model, false);
  const AgreementReport fp32 = compare(*deployed);
  qat::enable_fake_quant(model, true);
  print_report("runtime vs FP32 model (sanity):", fp32);
  std::printf("%s: %.3f MiB, %.1f%% of the f32 parameters (%.3f MiB)\n", s.out.c_str(),
              static_cast<double>(file_bytes) / (1 << 20),
              100.0 * static_cast<double>(file_bytes) / static_cast<double>(fp32_bytes),
              static_cast<double>(fp32_bytes) / (1 << 20));
  OCTET_CHECK(trained.logits_relative_error <= kMaxLogitsError &&
                  trained.argmax_agreement >= kMinArgmaxAgreement,
              "export_check", s.out,
              ": the runtime does not compute what the fake-quant model computes: logits relative "
              "error ",
              trained.logits_relative_error, " (bound ", kMaxLogitsError, "), arg-max agreement ",
              100.0 * trained.argmax_agreement, "% (bound ", 100.0 * kMinArgmaxAgreement, "%)");
  require_agreement(fp32, kMaxFp32LogitsError, kMaxFp32LayerError, s.out);
  std::printf("checks passed: %s deploys as trained\n", s.out.c_str());
}

int run_cnn(const Settings& s, const ModelSpec& spec) {
  const int64_t batch = s.batch > 0 ? s.batch : 128;
  const ImageDataset train_set = load_fashion_mnist(s.data_dir, true);
  const ImageDataset test_set = load_fashion_mnist(s.data_dir, false);
  const Tensor test_x = train::normalize_images(test_set.images.data(), test_set.n);
  auto accuracy = [&](models::Cnn& m) {
    return 100.0 * train::evaluate_accuracy(m, test_x, test_set.labels.data());
  };

  Generator unused(0);
  models::Cnn model(spec.cnn, unused);
  io::load_model_weights(s.checkpoint, model);
  const uint64_t fp32_bytes = f32_bytes(model);
  std::printf("fp32: test accuracy %.2f%%\n", accuracy(model));

  const int64_t calib_images = std::min(train_set.n, s.calibration_batches * batch);
  const Tensor calib_x = train::normalize_images(train_set.images.data(), calib_images);
  const auto calibration_batch = [&](int64_t i) {
    const int64_t begin = i * batch, end = std::min(calib_images, begin + batch);
    if (begin < end) model.forward(calib_x.slice(0, begin, end), unused);
  };
  const auto& outlier_methods = qat::kCnnOutlierMethods;
  if (std::find(outlier_methods.begin(), outlier_methods.end(), s.scheme) !=
      outlier_methods.end()) {
    // The CNN's LLM.int8() and SmoothQuant are what compare's "ptq llm_int8" and "ptq
    // smoothquant" rows measure (qat/cnn_outlier_ptq.h): the fc layers decomposed, or the scales
    // folded along conv1 -> conv2 -> fc1 -> fc2, with the W8A8 config elsewhere.
    qat::QatConfig w8a8;
    if (s.quant_config)
      w8a8 = s.quant_config("w8a8");
    else
      w8a8.layers = qat::scheme_config("w8a8");
    qat::prepare_cnn_outlier_ptq(model, s.scheme, w8a8, s.threshold, calibration_batch,
                                 s.calibration_batches);
    std::printf("ptq %s (%s): test accuracy %.2f%%\n", s.scheme.c_str(),
                qat::cnn_outlier_layout(s.scheme).c_str(), accuracy(model));
  } else {
    prepare_for(s, model);
    if (s.scheme != "fp32") {
      qat::calibrate(model, s.calibration_batches, calibration_batch);
      std::printf("ptq %s: test accuracy %.2f%%\n", s.scheme.c_str(), accuracy(model));
    }
  }
  if (s.qat_steps > 0) {
    train::CnnTrainOptions o;
    const int64_t steps_per_epoch = (train_set.n + batch - 1) / batch;
    o.epochs = (s.qat_steps + steps_per_epoch - 1) / steps_per_epoch;
    o.train_limit = o.epochs == 1 ? s.qat_steps * batch : 0;
    o.batch = batch;
    o.lr = s.lr;
    o.min_lr = s.lr * 0.1;
    o.warmup = 0;
    o.seed = s.seed;
    o.test_limit = 1;  // evaluated below on the whole test set
    o.data_dir = s.data_dir;
    const qat::QatSchedule schedule{0, s.freeze_observers_at_step};
    if (s.freeze_observers_at_step >= 0)
      o.before_step = [&](int64_t step) { schedule.apply(model, step); };
    const train::CnnTrainResult r = train::train_cnn(o, &model);
    std::printf("qat %s: test accuracy %.2f%% after %lld steps (%.1f s)\n", s.scheme.c_str(),
                accuracy(model), static_cast<long long>(r.steps), r.seconds);
  }

  std::ostringstream calibration;
  calibration << s.calibration_batches << " batches of " << batch
              << " Fashion-MNIST training images (" << calib_images << " images)";
  const uint64_t bytes = qat::export_qmodel(
      model, qat::describe_model(model, {provenance(s, calibration.str()), {}}), s.out);
  const int64_t n = std::min(kCheckImages, test_set.n);
  check_export(s, model, bytes, fp32_bytes, [&](const runtime::LoadedModel& deployed) {
    OCTET_CHECK(deployed.cnn() != nullptr, "export_check", s.out, ": not an image classifier");
    return compare_cnn(model, *deployed.cnn(), test_x.data<float>(), n);
  });
  return 0;
}

int run_lm(const Settings& s, const ModelSpec& spec) {
  auto text = std::make_shared<const TextDataset>(load_kjv_text());
  train::LmTrainOptions o;
  o.arch = spec.arch;
  o.model = spec.lm;
  o.batch = s.batch > 0 ? s.batch : 16;
  o.steps = std::max<int64_t>(1, s.qat_steps);
  o.lr = s.lr;
  o.min_lr = s.lr * 0.1;
  o.warmup = s.warmup >= 0 ? s.warmup : std::min<int64_t>(20, s.qat_steps / 10);
  o.seed = s.seed;
  o.eval_windows = s.eval_windows;

  train::LmTrainer fp32(o, text);
  fp32.load_weights(s.checkpoint);
  const uint64_t fp32_bytes = f32_bytes(fp32.model());
  std::printf("fp32: validation loss %.4f nats/byte\n", fp32.validation_loss());
  if (s.scheme == "smoothquant") {
    fp32.model().eval();  // statistics without dropout, as calibrate() takes them
    qat::smooth_quant(
        fp32.model(), qat::smooth_groups(fp32.model()),
        [&](int64_t) { fp32.forward_training_batch(); }, s.calibration_batches);
    fp32.model().train();
  }
  // The trainer that quantizes (and fine-tunes) starts from the FP32 model's weights, smoothed
  // if asked, and builds its optimizer over the twins' parameters.
  nn::NamedTensors state = fp32.model().named_parameters();
  for (auto& b : fp32.model().named_buffers()) state.push_back(b);
  o.prepare_model = [&](nn::Module& m) {
    m.load_state(state);
    prepare_for(s, m);
  };
  train::LmTrainer trainer(o, text);
  if (s.scheme != "fp32") {
    qat::calibrate(trainer.model(), s.calibration_batches,
                   [&](int64_t) { trainer.forward_training_batch(); });
    std::printf("ptq %s: validation loss %.4f nats/byte\n", s.scheme.c_str(),
                trainer.validation_loss());
  }
  if (s.qat_steps > 0) {
    double loss = 0;
    const qat::QatSchedule schedule{0, s.freeze_observers_at_step};
    while (trainer.steps_done() < s.qat_steps) {
      if (s.freeze_observers_at_step >= 0) schedule.apply(trainer.model(), trainer.steps_done());
      loss = trainer.step();
    }
    std::printf("qat %s: validation loss %.4f nats/byte after %lld steps (last train loss %.4f)\n",
                s.scheme.c_str(), trainer.validation_loss(), static_cast<long long>(s.qat_steps),
                loss);
  }

  std::ostringstream calibration;
  calibration << s.calibration_batches << " batches of " << o.batch << " random " << o.model.block
              << "-byte windows of the KJV training split";
  const uint64_t bytes = qat::export_qmodel(
      trainer.model(), qat::describe_model(trainer.model(), {provenance(s, calibration.str()), {}}),
      s.out);
  std::vector<int64_t> x, y;
  text->gather(text->eval_windows(Split::kValidation, o.model.block, kCheckWindows), x, y);
  const int64_t windows = static_cast<int64_t>(x.size()) / o.model.block;
  check_export(s, trainer.model(), bytes, fp32_bytes, [&](const runtime::LoadedModel& deployed) {
    OCTET_CHECK(deployed.decoder() != nullptr, "export_check", s.out, ": not a language model");
    return compare_decoder(trainer.model(), *deployed.decoder(), x.data(), windows, o.model.block);
  });
  return 0;
}

// With --recipe, the recipe gives every setting the command line does not; then the settings
// both ways must have.
void apply_recipe(Settings& s, const CLI::App& cmd) {
  auto unset = [&](const char* flag) { return cmd.count(flag) == 0; };
  if (!s.recipe.path.empty()) {
    const LoadedRecipe r = load_recipe(s.recipe.path, s.recipe.sets);
    const proto::Recipe& p = r.proto();
    const proto::Recipe::Quantization& q = p.quantization();
    if (unset("--checkpoint")) s.checkpoint = p.checkpoint().path();
    if (unset("--calibration-batches") && q.has_calibration_batches())
      s.calibration_batches = q.calibration_batches();
    if (unset("--batch") && p.schedule().has_batch()) s.batch = p.schedule().batch();
    if (unset("--threshold") && q.has_llm_int8_threshold()) s.threshold = q.llm_int8_threshold();
    if (unset("--seed") && q.has_seed()) s.seed = q.seed();
    if (unset("--data") && p.data().fashion_mnist().has_dir())
      s.data_dir = p.data().fashion_mnist().dir();
    if (unset("--eval-windows") && p.eval().has_windows()) s.eval_windows = p.eval().windows();
    if (unset("--f32-tables") && q.has_f32_tables()) s.f32_tables = q.f32_tables();
    if (s.command == "export" && unset("--qat-steps") && q.has_finetune_steps())
      s.qat_steps = q.finetune_steps();
    if (s.command == "export" && unset("--lr") && q.has_finetune_lr()) s.lr = q.finetune_lr();
    if (q.has_finetune_warmup()) s.warmup = q.finetune_warmup();
    s.quant_config = [r](const std::string& scheme) { return qat_config(r, scheme); };
    s.freeze_observers_at_step = freeze_observers_at_step(r);
    google::protobuf::TextFormat::PrintToString(p, &s.recipe_text);
  } else if (!s.recipe.sets.empty()) {
    throw UsageError(s.command, "--set overrides a recipe field, and there is no --recipe");
  }
  if (s.checkpoint.empty())
    throw UsageError(s.command, "--checkpoint is required (or --recipe with checkpoint.path)");
  if (s.command == "export" && unset("--qat-steps") && s.qat_steps <= 0)
    throw UsageError(s.command,
                     "--qat-steps is required (or --recipe with quantization.finetune_steps)");
}

int run(Settings s) {
  const std::vector<std::string> known = export_scheme_names();
  if (std::find(known.begin(), known.end(), s.scheme) == known.end()) {
    std::string list;
    for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
    throw Error(s.command, "unknown scheme '" + s.scheme + "' (known: " + list + ")");
  }
  OCTET_CHECK(s.calibration_batches > 0, s.command, "--calibration-batches must be > 0, got ",
              s.calibration_batches);
  OCTET_CHECK(s.qat_steps >= 0, s.command, "--qat-steps must be >= 0, got ", s.qat_steps);
  const ModelSpec spec = resolve_model(s);
  if (s.lr <= 0) s.lr = spec.arch == "cnn" ? 5e-4 : 3e-4;
  std::printf("%s %s: %s from %s -> %s\n", s.command.c_str(), s.scheme.c_str(), spec.arch.c_str(),
              s.checkpoint.c_str(), s.out.c_str());
  return spec.arch == "cnn" ? run_cnn(s, spec) : run_lm(s, spec);
}

CLI::App* add_common(CLI::App& app, const std::string& name, const std::string& help, Settings& s) {
  s.command = name;
  CLI::App* cmd = app.add_subcommand(name, help);
  cmd->add_option("--checkpoint", s.checkpoint,
                  "the FP32 checkpoint (octet train ... --save; or the recipe's checkpoint.path)");
  add_recipe_options(cmd, s.recipe);
  cmd->add_option("--scheme", s.scheme, "fp32, a qat scheme, llm_int8 or smoothquant")->required();
  cmd->add_option("--out", s.out, "the .qmodel to write")->required();
  cmd->add_option("--calibration-batches", s.calibration_batches, "calibration batches")
      ->capture_default_str();
  cmd->add_option("--batch", s.batch, "batch size (0: 128 images or 16 sequences)");
  cmd->add_option("--threshold", s.threshold, "LLM.int8() outlier threshold")
      ->capture_default_str();
  cmd->add_option("--seed", s.seed, "data order")->capture_default_str();
  cmd->add_option("--data", s.data_dir, "Fashion-MNIST directory")->capture_default_str();
  cmd->add_option("--eval-windows", s.eval_windows, "validation windows (language models)")
      ->capture_default_str();
  cmd->add_flag("--f32-tables", s.f32_tables,
                "keep embedding tables and lm_head in f32 (default: int8 rows, and lm_head "
                "weight-only int8 so its input stays f32)");
  cmd->add_option("--arch", s.arch, "override: cnn, gpt or llama");
  cmd->add_option("--dim", s.dim, "override: model width");
  cmd->add_option("--layers", s.layers, "override: transformer blocks");
  cmd->add_option("--heads", s.heads, "override: attention heads");
  cmd->add_option("--block", s.block, "override: context length");
  cmd->add_option("--mlp-hidden", s.mlp_hidden, "override: MLP width (0: default)");
  return cmd;
}

}  // namespace

std::vector<std::string> export_scheme_names() {
  std::vector<std::string> names = {"fp32"};
  for (const std::string& n : qat::scheme_names()) names.push_back(n);
  names.push_back("llm_int8");
  names.push_back("smoothquant");
  return names;
}

std::function<int()> add_ptq_command(CLI::App& app) {
  auto s = std::make_shared<Settings>();
  CLI::App* cmd = add_common(
      app, "ptq", "post-training quantization: checkpoint -> calibrated, checked .qmodel", *s);
  return [cmd, s]() {
    if (!*cmd) return -1;
    apply_recipe(*s, *cmd);
    return run(*s);
  };
}

std::function<int()> add_export_command(CLI::App& app) {
  auto s = std::make_shared<Settings>();
  CLI::App* cmd =
      add_common(app, "export",
                 "quantization-aware fine-tuning: checkpoint -> QAT-trained, checked .qmodel", *s);
  cmd->add_option("--qat-steps", s->qat_steps,
                  "fine-tuning steps with fake-quant on (or the recipe's finetune_steps)");
  cmd->add_option("--lr", s->lr, "fine-tuning learning rate (0: 5e-4 cnn, 3e-4 lm)");
  return [cmd, s]() {
    if (!*cmd) return -1;
    apply_recipe(*s, *cmd);
    return run(*s);
  };
}

}  // namespace octet::tools
