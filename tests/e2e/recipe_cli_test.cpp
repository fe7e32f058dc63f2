// The `octet` binary driven with recipes, as a user runs it: a tiny FP32 training and a tiny
// PTQ-vs-QAT comparison from the shipped recipes with --set, a PTQ export honouring the
// recipe's skip list, and the documented exit codes: 0 ok, 2 for a malformed recipe (with
// file:line:col on stderr), a bad --set key, a bad flag. Also `train`'s --device and
// --precision: bf16 autocast training of a tiny language model, and the errors for a bad value,
// a bf16 CNN and a CUDA device this machine lacks.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ops/cuda/runtime.h"

namespace {

namespace fs = std::filesystem;

// The tests are built into <build>/tests, the command line into <build>/bin (CMakeLists.txt).
fs::path octet_binary() {
  return fs::read_symlink("/proc/self/exe").parent_path() / "../bin/octet";
}

fs::path recipe(const std::string& name) {
  return fs::path(OCTET_SOURCE_DIR) / "recipes" / (name + ".textproto");
}

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Result {
  int code = -1;
  std::string out, err;
  double seconds = 0;
};

fs::path scratch() {
  const fs::path dir = fs::temp_directory_path() / ("recipe_cli_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

// Runs `octet <args>` from the source directory (where the recipes' relative paths point).
Result octet(const std::vector<std::string>& args) {
  const fs::path dir = scratch();
  std::string cmd =
      "cd '" + std::string(OCTET_SOURCE_DIR) + "' && '" + octet_binary().string() + "' --threads 2";
  for (const std::string& a : args) cmd += " '" + a + "'";
  cmd += " > '" + (dir / "out").string() + "' 2> '" + (dir / "err").string() + "'";
  const auto t0 = std::chrono::steady_clock::now();
  const int status = std::system(cmd.c_str());
  Result r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read(dir / "out");
  r.err = read(dir / "err");
  std::string line;
  for (const std::string& a : args) line += " " + a;
  std::printf("$ octet%s\nexit %d in %.1f s\n%s%s", line.c_str(), r.code, r.seconds,
              r.out.substr(r.out.size() > 1500 ? r.out.size() - 1500 : 0).c_str(), r.err.c_str());
  return r;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

class RecipeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(octet_binary()))
        << octet_binary() << " is missing: build the `octet` target first";
  }
  static void TearDownTestSuite() { fs::remove_all(scratch()); }
};

// Tiny: 1000 training images for one epoch, scored on 500.
const std::vector<std::string> kTinyCnn = {"--set", "data.fashion_mnist.train_limit=1000",
                                           "--set", "data.fashion_mnist.test_limit=500",
                                           "--set", "schedule.epochs=1",
                                           "--set", "schedule.warmup=0"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST_F(RecipeCli, TrainsFromTheDemoRecipe) {
  const std::string ckpt = (scratch() / "cnn.ckpt").string();
  const Result r = octet(with({"train", "--recipe", recipe("fashion_mnist_cnn").string()},
                              with(kTinyCnn, {"--set", "checkpoint.path=" + ckpt})));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LT(r.seconds, 60.0);
  EXPECT_TRUE(contains(r.out, "recipe fashion_mnist_cnn")) << r.out;
  EXPECT_TRUE(contains(r.out, "after 1 epochs (8 steps)")) << r.out;
  EXPECT_TRUE(fs::exists(ckpt));
}

// A GPT small enough for seconds: the recipes' sizes and schedules overridden by --set.
std::vector<std::string> tiny_gpt(const std::string& checkpoint) {
  return {"--set", "model.gpt.dim=32",
          "--set", "model.gpt.heads=2",
          "--set", "model.gpt.layers=1",
          "--set", "model.gpt.block=32",
          "--set", "schedule.steps=20",
          "--set", "schedule.batch=4",
          "--set", "eval.windows=8",
          "--set", "eval.every_steps=10",
          "--set", "checkpoint.path=" + checkpoint};
}

TEST_F(RecipeCli, TrainsALanguageModelThenQuantizesItsCheckpointWithTheSkipList) {
  const std::string ckpt = (scratch() / "gpt.ckpt").string();
  const Result train = octet(with({"train", "--recipe", recipe("kjv_char_gpt").string()},
                                  with(tiny_gpt(ckpt), {"--set", "checkpoint.every_steps=10"})));
  ASSERT_EQ(train.code, 0) << train.err;
  EXPECT_TRUE(contains(train.out, "step    10")) << train.out;
  EXPECT_TRUE(contains(train.out, "step    20")) << train.out;
  ASSERT_TRUE(fs::exists(ckpt));

  // The same recipe names the checkpoint for `octet ptq`; its skip list keeps the MLP's first
  // layer ("blocks.0.fc") in f32.
  const std::string model = (scratch() / "gpt_w8a8.qmodel").string();
  const Result ptq = octet(
      with({"ptq", "--recipe", recipe("kjv_char_gpt").string(), "--scheme", "w8a8", "--out", model},
           with(tiny_gpt(ckpt), {"--set", "quantization.skip=fc"})));
  ASSERT_EQ(ptq.code, 0) << ptq.err;
  EXPECT_TRUE(contains(ptq.out, "checks passed")) << ptq.out;
  const Result inspect = octet({"inspect", model});
  ASSERT_EQ(inspect.code, 0);
  EXPECT_TRUE(contains(inspect.out, "skipped layers (kept in f32): blocks.0.fc")) << inspect.out;
  EXPECT_TRUE(contains(inspect.out, "name: \"kjv_char_gpt\""))
      << "the provenance records the recipe";
  EXPECT_LT(train.seconds + ptq.seconds, 60.0);
}

TEST_F(RecipeCli, ComparesFromTheOutlierRecipeTrainingItsCheckpointFirst) {
  const fs::path dir = scratch() / "compare";
  const std::string ckpt = (scratch() / "outliers.ckpt").string();
  const Result r = octet(
      with({"compare", "--recipe", recipe("kjv_gpt_llm_int8_outliers").string()},
           with(tiny_gpt(ckpt),
                {"--set", "quantization.outliers.dims=3,17", "--set",
                 "quantization.finetune_steps=5", "--set", "quantization.calibration_batches=2",
                 "--set", "eval.generate_tokens=8", "--set", "output.out_dir=" + dir.string()})));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "FP32 pre-training first, into " + ckpt)) << r.out;
  EXPECT_TRUE(fs::exists(ckpt)) << "the next run starts from it";
  const std::string json = read(dir / "compare.json");
  for (const char* row :
       {"\"method\": \"fp32\"", "\"method\": \"fp32_finetune\"",
        "\"method\": \"ptq\", \"scheme\": \"w8a8\"", "\"method\": \"qat\", \"scheme\": \"w8a8\"",
        "\"method\": \"ptq\", \"scheme\": \"llm_int8\"",
        "\"method\": \"ptq\", \"scheme\": \"smoothquant\""})
    EXPECT_TRUE(contains(json, row)) << row << "\n" << json;
  EXPECT_TRUE(fs::exists(dir / "compare.svg"));
  EXPECT_LT(r.seconds, 60.0);
}

TEST_F(RecipeCli, AMalformedRecipeExits2WithFileLineColumn) {
  const fs::path bad = scratch() / "bad.textproto";
  std::ofstream(bad) << "name: \"bad\"\nmodel {\n  cnn { hidden: 64 widht: 3 }\n}\n";
  const Result r = octet({"train", "--recipe", bad.string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, bad.string() + ":3:20: ")) << r.err;
  EXPECT_TRUE(contains(r.err, "no field named \"widht\"")) << r.err;
  EXPECT_TRUE(r.out.empty()) << "nothing ran";

  std::ofstream(bad) << "model { cnn {} }\nschedule {\n  epochs: 0\n}\n";
  const Result invalid = octet({"compare", "--recipe", bad.string()});
  EXPECT_EQ(invalid.code, 2);
  EXPECT_TRUE(contains(invalid.err, bad.string() + ":3:3: schedule.epochs: must be > 0"))
      << invalid.err;
}

TEST_F(RecipeCli, ABadSetExits2NamingTheKey) {
  const Result r = octet(
      {"train", "--recipe", recipe("fashion_mnist_cnn").string(), "--set", "model.cnn.hiden=64"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "--set model.cnn.hiden=64: unknown field 'hiden'")) << r.err;
  const Result value = octet({"compare", "--recipe", recipe("kjv_llama").string(), "--set",
                              "quantization.finetune_steps=many"});
  EXPECT_EQ(value.code, 2);
  EXPECT_TRUE(contains(value.err, "quantization.finetune_steps")) << value.err;
  // What compare cannot honour it says before any training: FP8 current scaling on a language
  // model scored by the runtime in batches other than the fake-quant model's 16 windows.
  const Result batch = octet({"compare", "--recipe", recipe("kjv_llama").string(), "--set",
                              "quantization.fp8.scaling=current", "--set", "eval.batch=8"});
  EXPECT_EQ(batch.code, 2);
  EXPECT_TRUE(contains(batch.err, "eval.batch: must be 16 with quantization.fp8.scaling CURRENT"))
      << batch.err;
  EXPECT_LT(r.seconds + value.seconds + batch.seconds, 10.0);
}

TEST_F(RecipeCli, ExitCodesAreDocumentedAndKept) {
  const Result help = octet({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_TRUE(contains(help.out, "Exit codes: 0 success; 1 a failure while running")) << help.out;
  EXPECT_EQ(octet({"train", "--no-such-flag"}).code, 2);
  EXPECT_EQ(octet({"compare", "cnn", "--epochs", "three"}).code, 2);
  const Result neither = octet({"train"});
  EXPECT_EQ(neither.code, 2);
  EXPECT_TRUE(contains(neither.err, "--recipe")) << neither.err;
  EXPECT_EQ(octet({"train", "--recipe", "/no/such.textproto"}).code, 2);
  // A failure while running (a checkpoint that is not there) is 1, not 2.
  EXPECT_EQ(octet({"ptq", "--checkpoint", "/no/such.ckpt", "--scheme", "w8a8", "--out",
                   (scratch() / "x.qmodel").string()})
                .code,
            1);
}

// A GPT small enough for seconds, with `train lm`'s own flags.
std::vector<std::string> tiny_lm_flags() {
  return {"train",     "lm",         "--dim=32",  "--heads=2",  "--layers=1",     "--block=32",
          "--batch=8", "--warmup=0", "--lr=3e-3", "--steps=30", "--eval-every=10"};
}

// The validation loss on the "step N ... val loss X" line of `octet train lm`; -1 if missing.
double val_loss_at(const std::string& out, int step) {
  char head[32];
  std::snprintf(head, sizeof head, "step %5d ", step);
  const size_t line = out.find(head);
  const size_t at = line == std::string::npos ? line : out.find("val loss ", line);
  return at == std::string::npos ? -1 : std::stod(out.substr(at + 9));
}

TEST_F(RecipeCli, TrainsALanguageModelUnderBf16Autocast) {
  const std::string ckpt = (scratch() / "gpt_bf16.ckpt").string();
  const Result r = octet(with(tiny_lm_flags(), {"--precision", "bf16", "--save", ckpt}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "bytes in bf16 autocast")) << r.out;
  const double first = val_loss_at(r.out, 10), last = val_loss_at(r.out, 30);
  ASSERT_GT(first, 0) << r.out;
  ASSERT_GT(last, 0) << r.out;
  EXPECT_LT(first, 5.3) << "below a uniform guess over 256 bytes (5.55 nats)";
  EXPECT_LT(last, first - 0.1) << r.out;
  EXPECT_TRUE(fs::exists(ckpt));
  // The same run in fp32 (same seed, same batches) lands close by but not on the same loss: the
  // flag reached the GEMMs.
  const Result fp32 = octet(tiny_lm_flags());
  ASSERT_EQ(fp32.code, 0) << fp32.err;
  const double fp32_last = val_loss_at(fp32.out, 30);
  EXPECT_NE(last, fp32_last);
  EXPECT_NEAR(last, fp32_last, 0.1);
  EXPECT_LT(r.seconds + fp32.seconds, 30.0);
}

// A recipe's precision trains under bf16 autocast; --precision overrides it either way.
TEST_F(RecipeCli, TheRecipesPrecisionReachesTrainingAndTheFlagOverridesIt) {
  const std::string ckpt = (scratch() / "gpt_recipe_bf16.ckpt").string();
  const std::vector<std::string> bf16_recipe =
      with({"train", "--recipe", recipe("kjv_char_gpt").string()},
           with(tiny_gpt(ckpt), {"--set", "precision=BF16"}));
  const Result bf16 = octet(bf16_recipe);
  ASSERT_EQ(bf16.code, 0) << bf16.err;
  EXPECT_TRUE(contains(bf16.out, "BF16-autocast training")) << bf16.out;
  EXPECT_TRUE(contains(bf16.out, "bf16 autocast")) << bf16.out;
  const Result flag = octet(with(bf16_recipe, {"--precision", "fp32"}));
  ASSERT_EQ(flag.code, 0) << flag.err;
  EXPECT_TRUE(contains(flag.out, "FP32 training")) << flag.out;
  EXPECT_FALSE(contains(flag.out, "bf16 autocast")) << flag.out;
  EXPECT_LT(bf16.seconds + flag.seconds, 30.0);
}

TEST_F(RecipeCli, ABadDeviceOrPrecisionExits2NamingTheFlagAndValue) {
  const Result gpu = octet({"train", "lm", "--device", "gpu"});
  EXPECT_EQ(gpu.code, 2);
  EXPECT_TRUE(contains(gpu.err, "--device: 'gpu' is not cpu, cuda or cuda:N")) << gpu.err;
  const Result index = octet({"train", "cnn", "--device", "cuda:x"});
  EXPECT_EQ(index.code, 2);
  EXPECT_TRUE(contains(index.err, "--device: 'cuda:x' is not cpu, cuda or cuda:N")) << index.err;
  const Result fp16 = octet({"train", "lm", "--precision", "fp16"});
  EXPECT_EQ(fp16.code, 2);
  EXPECT_TRUE(contains(fp16.err, "--precision: 'fp16' is not fp32 or bf16")) << fp16.err;
  // Autocast covers matmul and linear, not the CNN's convolutions: refused, from flags or recipe.
  const Result cnn = octet({"train", "cnn", "--precision", "bf16"});
  EXPECT_EQ(cnn.code, 2);
  EXPECT_TRUE(contains(cnn.err, "--precision bf16: the CNN trains in fp32 only")) << cnn.err;
  const Result recipe_cnn =
      octet({"train", "--recipe", recipe("fashion_mnist_cnn").string(), "--precision", "bf16"});
  EXPECT_EQ(recipe_cnn.code, 2);
  EXPECT_TRUE(contains(recipe_cnn.err, "the CNN trains in fp32 only")) << recipe_cnn.err;
  for (const Result* r : {&gpu, &index, &fp16, &cnn, &recipe_cnn})
    EXPECT_TRUE(r->out.empty()) << "nothing ran: " << r->out;
}

TEST_F(RecipeCli, CudaWithoutAUsableGpuFailsBeforeTraining) {
  const std::string ckpt = (scratch() / "gpt_cuda.ckpt").string();
  const Result r = octet(with(tiny_lm_flags(), {"--device", "cuda", "--save", ckpt}));
  if (octet::cuda::available()) {
    // A GPU machine trains there and writes the checkpoint from the device tensors.
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "bytes on cuda:0")) << r.out;
    EXPECT_TRUE(fs::exists(ckpt));
    return;
  }
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, octet::cuda::compiled()
                                  ? "--device cuda:0: octet was built with CUDA but no CUDA "
                                    "device is visible"
                                  : "--device cuda:0: this octet was built without CUDA"))
      << r.err;
  EXPECT_TRUE(r.out.empty()) << "it failed before training: " << r.out;
  EXPECT_FALSE(fs::exists(ckpt));
}

}  // namespace
