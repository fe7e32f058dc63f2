// `octet ptq` and `octet export` end to end, driven through a CLI11 app built the way octet_main
// builds it (in process, so the test needs no particular build order of the `octet` binary):
// a tiny GPT is trained and saved, quantized by PTQ (w8a8, llm_int8) and QAT (fp8_e4m3), each
// file passes the commands' own runtime checks, and `eval` and `inspect` read the outputs. The
// failures a user meets first (unknown scheme, missing, truncated or undescribed checkpoints)
// must exit non-zero with a message naming the file and the reason.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "framework/data/text.h"
#include "framework/io/archive.h"
#include "framework/io/checkpoint.h"
#include "framework/train/image_classifier.h"
#include "framework/train/language_model.h"
#include "runtime/model_file.h"
#include "tools/commands/export_commands.h"
#include "tools/commands/model_commands.h"
#include "tools/commands/runtime_commands.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

struct CliResult {
  int code = 0;
  std::string out;    // stdout
  std::string error;  // what main() would print to stderr
};

// `octet <args>` in process: parse errors and octet::Error become a non-zero exit, as in main().
CliResult octet_cli(const std::vector<std::string>& args) {
  CLI::App app{"octet"};
  app.require_subcommand(1);
  const std::vector<std::function<int()>> commands = {
      tools::add_ptq_command(app), tools::add_export_command(app), tools::add_eval_command(app),
      tools::add_inspect_command(app)};
  std::vector<const char*> argv = {"octet"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  CliResult r;
  testing::internal::CaptureStdout();
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
    for (const auto& run : commands)
      if (const int rc = run(); rc >= 0) {
        r.code = rc;
        break;
      }
  } catch (const CLI::ParseError& e) {
    r.code = e.get_exit_code() == 0 ? 2 : e.get_exit_code();
    r.error = e.what();
  } catch (const std::exception& e) {
    r.code = 1;
    r.error = e.what();
  }
  r.out = testing::internal::GetCapturedStdout();
  std::printf("$ octet");
  for (const std::string& a : args) std::printf(" %s", a.c_str());
  std::printf("\n%s%s%s", r.out.c_str(), r.error.c_str(), r.error.empty() ? "" : "\n");
  return r;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class ExportCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("export_cli_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    options_ = new train::LmTrainOptions;
    options_->model.dim = 64;
    options_->model.layers = 2;
    options_->model.heads = 4;
    options_->model.block = 64;
    options_->batch = 16;
    options_->steps = 80;
    options_->warmup = 10;
    options_->lr = 3e-3;
    train::LmTrainer t(*options_, std::make_shared<const TextDataset>(load_kjv_text()));
    while (t.steps_done() < options_->steps) t.step();
    t.save(path("gpt.ckpt"));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete options_;
  }
  static std::string path(const std::string& name) { return (*dir_ / name).string(); }

  static fs::path* dir_;
  static train::LmTrainOptions* options_;
};
fs::path* ExportCli::dir_ = nullptr;
train::LmTrainOptions* ExportCli::options_ = nullptr;

TEST_F(ExportCli, CheckpointRecordsTheArchitecture) {
  const io::Archive archive = io::Archive::open(path("gpt.ckpt"));
  const auto& meta = archive.metadata();
  EXPECT_EQ(meta.at("meta/arch"), "gpt");
  EXPECT_EQ(meta.at("meta/model.dim"), "64");
  EXPECT_EQ(meta.at("meta/model.layers"), "2");
  EXPECT_EQ(meta.at("meta/model.heads"), "4");
  EXPECT_EQ(meta.at("meta/model.block"), "64");
  EXPECT_EQ(meta.at("meta/model.mlp_hidden"), "0");
}

// `octet train cnn --save` writes the CnnConfig the same way; a non-default one must come back.
TEST_F(ExportCli, CnnCheckpointRecordsItsConfig) {
  models::CnnConfig config;
  config.channels1 = 8;
  config.channels2 = 12;
  config.hidden = 24;
  config.dropout = 0.5;
  Generator init(3);
  models::Cnn model(config, init);
  train::save_cnn_checkpoint(path("cnn.ckpt"), model);
  std::map<std::string, std::string> meta;
  const io::Archive archive = io::Archive::open(path("cnn.ckpt"));
  for (const auto& [key, value] : archive.metadata())
    if (key.rfind("meta/", 0) == 0) meta[key.substr(5)] = value;
  EXPECT_EQ(meta.at("arch"), "cnn");
  const models::CnnConfig back = train::cnn_config_from_metadata(meta, path("cnn.ckpt"));
  EXPECT_EQ(back.channels1, 8);
  EXPECT_EQ(back.channels2, 12);
  EXPECT_EQ(back.hidden, 24);
  EXPECT_EQ(back.classes, 10);
  EXPECT_DOUBLE_EQ(back.dropout, 0.5);
  models::Cnn rebuilt(back, init);
  EXPECT_EQ(io::load_model_weights(path("cnn.ckpt"), rebuilt),
            static_cast<int64_t>(model.named_parameters().size()));
  meta.erase("model.hidden");
  try {
    train::cnn_config_from_metadata(meta, path("cnn.ckpt"));
    FAIL() << "a CNN checkpoint without model.hidden was accepted";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), path("cnn.ckpt") + ": metadata 'model.hidden' missing"))
        << e.what();
  }
}

TEST_F(ExportCli, PtqQatAndLlmInt8ExportsDeployAsTrained) {
  struct Case {
    std::vector<std::string> args;
    std::string file, method, scheme;
  };
  const std::vector<Case> cases = {
      {{"ptq", "--scheme", "w8a8", "--calibration-batches", "4"}, "w8a8.qmodel", "ptq", "w8a8"},
      {{"export", "--scheme", "fp8_e4m3", "--qat-steps", "5", "--calibration-batches", "4"},
       "fp8.qmodel",
       "qat",
       "fp8_e4m3"},
      {{"ptq", "--scheme", "llm_int8", "--calibration-batches", "4"},
       "llm_int8.qmodel",
       "ptq",
       "llm_int8"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.args;
    const std::vector<std::string> common = {"--checkpoint", path("gpt.ckpt"), "--out",
                                             path(c.file),   "--eval-windows", "16"};
    args.insert(args.end(), common.begin(), common.end());
    const CliResult r = octet_cli(args);
    ASSERT_EQ(r.code, 0) << r.error;
    EXPECT_TRUE(contains(r.out, "runtime vs fake-quant model:")) << r.out;
    EXPECT_TRUE(contains(r.out, "runtime vs FP32 model (sanity):")) << r.out;
    EXPECT_TRUE(contains(r.out, "checks passed")) << r.out;
    if (c.method == "qat") {
      EXPECT_TRUE(contains(r.out, "ptq fp8_e4m3: validation loss")) << r.out;
      EXPECT_TRUE(contains(r.out, "qat fp8_e4m3: validation loss")) << r.out;
    }
    const runtime::ModelFile file = runtime::ModelFile::open(path(c.file));
    EXPECT_EQ(file.header().provenance().method(), c.method);
    EXPECT_EQ(file.header().provenance().scheme(), c.scheme);
    EXPECT_EQ(file.header().provenance().source_checkpoint(), path("gpt.ckpt"));
    EXPECT_GT(file.header().layers_size(), 0) << c.file;

    const CliResult eval = octet_cli({"eval", "--model", path(c.file), "--windows", "8"});
    EXPECT_EQ(eval.code, 0) << eval.error;
    EXPECT_TRUE(contains(eval.out, "kjv validation")) << eval.out;
    const CliResult inspect = octet_cli({"inspect", path(c.file), "--verify"});
    EXPECT_EQ(inspect.code, 0) << inspect.error;
  }
}

// The CNN's outlier-aware PTQ from the command line: what compare's "ptq llm_int8" and "ptq
// smoothquant" rows measure, exported and checked against the runtime like every other scheme.
TEST_F(ExportCli, CnnLlmInt8AndSmoothQuantExportsDeployAsTrained) {
  models::CnnConfig config;
  Generator init(5);
  models::Cnn model(config, init);
  train::CnnTrainOptions o;
  o.epochs = 1;
  o.batch = 64;
  o.train_limit = 64 * 60;  // a minute's fraction of an epoch: enough for confident logits
  o.test_limit = 64;
  o.warmup = 10;
  train::train_cnn(o, &model);
  train::save_cnn_checkpoint(path("cnn_trained.ckpt"), model);
  for (const std::string scheme : {"smoothquant", "llm_int8"}) {
    const std::string out = path("cnn_" + scheme + ".qmodel");
    const CliResult r = octet_cli({"ptq", "--checkpoint", path("cnn_trained.ckpt"), "--scheme",
                                   scheme, "--calibration-batches", "2", "--out", out});
    ASSERT_EQ(r.code, 0) << r.error;
    EXPECT_TRUE(contains(r.out, "ptq " + scheme + " (")) << r.out;
    EXPECT_TRUE(contains(r.out, "checks passed")) << r.out;
    const runtime::ModelFile file = runtime::ModelFile::open(out);
    EXPECT_EQ(file.header().provenance().scheme(),
              scheme == "smoothquant" ? "smoothquant+w8a8" : scheme);
    EXPECT_GT(file.header().layers_size(), 0) << out;
  }
}

TEST_F(ExportCli, UnknownSchemeListsTheKnownOnes) {
  const CliResult r = octet_cli(
      {"ptq", "--checkpoint", path("gpt.ckpt"), "--scheme", "w9a9", "--out", path("never.qmodel")});
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.error, "unknown scheme 'w9a9'")) << r.error;
  for (const std::string known : {"fp32", "w8a8", "fp8_e4m3", "llm_int8", "smoothquant"})
    EXPECT_TRUE(contains(r.error, known)) << r.error;
  EXPECT_FALSE(fs::exists(path("never.qmodel")));
}

TEST_F(ExportCli, MissingCheckpointIsNamed) {
  const std::string missing = path("no_such.ckpt");
  const CliResult r = octet_cli({"export", "--checkpoint", missing, "--scheme", "w8a8",
                                 "--qat-steps", "5", "--out", path("never.qmodel")});
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.error, missing + ": no such checkpoint file")) << r.error;
}

TEST_F(ExportCli, TruncatedCheckpointIsNamed) {
  const std::string truncated = path("truncated.ckpt");
  fs::copy_file(path("gpt.ckpt"), truncated, fs::copy_options::overwrite_existing);
  fs::resize_file(truncated, fs::file_size(truncated) / 2);
  const CliResult r = octet_cli(
      {"ptq", "--checkpoint", truncated, "--scheme", "w8a8", "--out", path("never.qmodel")});
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.error, truncated)) << r.error;
  EXPECT_TRUE(contains(r.error, "truncated")) << r.error;
}

// A checkpoint from before checkpoints described their model ("arch" only) needs the dims as
// flags: without them the message says which; with them the export works.
TEST_F(ExportCli, UndescribedCheckpointNeedsTheDimsAsFlags) {
  Generator init(1);
  auto model = train::make_language_model("gpt", options_->model, init);
  io::load_model_weights(path("gpt.ckpt"), *model);
  io::TrainingState state;
  state.model = model.get();
  state.metadata = {{"arch", "gpt"}};
  const std::string old = path("old.ckpt");
  io::save_checkpoint(old, state);

  const CliResult r =
      octet_cli({"ptq", "--checkpoint", old, "--scheme", "w8a8", "--out", path("old.qmodel")});
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.error, old + ": the checkpoint does not record the model's dims"))
      << r.error;
  EXPECT_TRUE(contains(r.error, "--dim, --layers, --heads, --block")) << r.error;

  const CliResult ok =
      octet_cli({"ptq", "--checkpoint", old, "--scheme", "w8a8_dyn", "--out", path("old.qmodel"),
                 "--dim", "64", "--layers", "2", "--heads", "4", "--block", "64",
                 "--calibration-batches", "2", "--eval-windows", "8"});
  EXPECT_EQ(ok.code, 0) << ok.error;
}

}  // namespace
}  // namespace octet
