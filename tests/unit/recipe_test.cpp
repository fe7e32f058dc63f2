// Recipes (proto/recipe.proto): every shipped recipe parses and validates; malformed text and
// unknown fields fail as file:line:col; --set reaches nested, repeated, enum and bool fields and
// fails naming the key; validation names the field and where it was set; and the mapping lands
// each field in the option struct the commands run on.
#include "tools/commands/recipe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "qat/llm_int8.h"
#include "tools/commands/recipe_mapping.h"

namespace octet::tools {
namespace {

namespace fs = std::filesystem;

// The message of the UsageError `f` throws ("" if it throws none).
template <typename F>
std::string usage_error(F&& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

std::string parse_error(const std::string& text, const std::vector<std::string>& sets = {}) {
  return usage_error([&] { parse_recipe(text, "t.textproto", sets); });
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

const char* kCnn = "model { cnn {} }\n";
const char* kGpt = "model { gpt { dim: 64 heads: 4 } }\n";

TEST(Recipe, EveryShippedRecipeParsesValidatesAndMaps) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(fs::path(OCTET_SOURCE_DIR) / "recipes"))
    if (entry.path().extension() == ".textproto") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 4u);
  for (const char* name :
       {"fashion_mnist_cnn", "kjv_char_gpt", "kjv_llama", "kjv_gpt_llm_int8_outliers"})
    EXPECT_TRUE(
        fs::exists(fs::path(OCTET_SOURCE_DIR) / "recipes" / (std::string(name) + ".textproto")))
        << name;
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.string());
    const LoadedRecipe r = load_recipe(file.string());
    EXPECT_EQ(r.proto().name(), file.stem().string()) << "a recipe is named after its file";
    EXPECT_FALSE(r.proto().description().empty());
    // Usable both ways: FP32 pre-training and the PTQ/QAT comparison.
    if (r.is_cnn()) {
      EXPECT_GT(cnn_train_options(r).epochs, 0);
      EXPECT_FALSE(compare_cnn_settings(r).common.qat_schemes.empty());
    } else {
      EXPECT_GT(lm_train_run(r).options.steps, 0);
      EXPECT_FALSE(lm_train_run(r).save.empty()) << "compare starts from the trained checkpoint";
      EXPECT_FALSE(compare_lm_settings(r).common.schemes.empty());
    }
  }
}

TEST(Recipe, TheDemoRecipeIsTodaysCompareCnnDefaults) {
  const LoadedRecipe r =
      load_recipe((fs::path(OCTET_SOURCE_DIR) / "recipes/fashion_mnist_cnn.textproto").string());
  const CnnCompareSettings s = compare_cnn_settings(r);
  const CnnCompareSettings defaults;
  EXPECT_EQ(s.common.schemes, defaults.common.schemes);
  EXPECT_EQ(s.common.qat_schemes, defaults.common.qat_schemes);
  EXPECT_EQ(s.base.epochs, defaults.base.epochs);
  EXPECT_EQ(s.experiment.finetune_steps, defaults.experiment.finetune_steps);
  EXPECT_EQ(s.experiment.calibration_batches, defaults.experiment.calibration_batches);
  EXPECT_EQ(s.eval_batch, defaults.eval_batch);
  EXPECT_EQ(s.common.out_dir, defaults.common.out_dir);
}

TEST(Recipe, MalformedTextFailsAtFileLineColumn) {
  EXPECT_EQ(parse_error("name: \"x\"\nmodel {\n  cnn { hidden: \"wide\" }\n}\n"),
            "[recipe] t.textproto:3:17: Expected integer, got: \"wide\"");
  EXPECT_TRUE(contains(parse_error("model {\n  cnn { hidden: 3\n"), "[recipe] t.textproto:3:1: "));
  EXPECT_TRUE(
      contains(parse_error("model { cnn {} }\nmodel { cnn {} }\n"), "[recipe] t.textproto:2:1: "));
}

TEST(Recipe, UnknownFieldFailsAtItsPosition) {
  const std::string e = parse_error("model {\n  cnn { hiden: 64 }\n}\n");
  EXPECT_EQ(e.rfind("[recipe] t.textproto:2:9: ", 0), 0u) << e;
  EXPECT_TRUE(contains(e, "no field named \"hiden\"")) << e;
  EXPECT_TRUE(contains(parse_error("modle { cnn {} }"), "t.textproto:1:1: "));
}

TEST(Recipe, SetReachesNestedRepeatedEnumBoolAndStringFields) {
  const LoadedRecipe r =
      parse_recipe(kGpt, "t",
                   {"model.gpt.layers=3", "quantization.ptq_schemes=w8a8, fp8_e4m3",
                    "quantization.fp8.scaling=current", "quantization.f32_tables=true",
                    "eval.prompt=In the beginning, a=b", "data.seed=7", "precision=FP32"});
  const proto::Recipe& p = r.proto();
  EXPECT_EQ(p.model().gpt().layers(), 3);
  EXPECT_EQ(p.model().gpt().dim(), 64) << "a --set leaves the rest of the message alone";
  ASSERT_EQ(p.quantization().ptq_schemes_size(), 2);
  EXPECT_EQ(p.quantization().ptq_schemes(1), "fp8_e4m3");
  EXPECT_EQ(p.quantization().fp8().scaling(), proto::Recipe::Fp8::CURRENT);
  EXPECT_TRUE(p.quantization().f32_tables());
  EXPECT_EQ(p.eval().prompt(), "In the beginning, a=b");
  EXPECT_EQ(p.data().seed(), 7u);
  // A list set again is replaced, an empty value clears it; a missing section is created.
  const LoadedRecipe q =
      parse_recipe("model { cnn {} }\nquantization { qat_schemes: [\"w8a8\"] }\n", "t",
                   {"quantization.qat_schemes=", "data.fashion_mnist.train_limit=100"});
  EXPECT_EQ(q.proto().quantization().qat_schemes_size(), 0);
  EXPECT_EQ(cnn_train_options(q).train_limit, 100);
}

TEST(Recipe, SetFailsNamingTheKeyAndWhy) {
  auto set = [](const std::string& assignment) { return parse_error(kCnn, {assignment}); };
  EXPECT_EQ(set("model.cnn.hiden=3"),
            "[recipe] --set model.cnn.hiden=3: unknown field 'hiden' in model.cnn (known: "
            "channels1, channels2, hidden, dropout)");
  EXPECT_TRUE(contains(set("modle.cnn.hidden=3"), "unknown field 'modle' in the recipe"));
  EXPECT_TRUE(contains(set("model.cnn=3"), "model.cnn is a message, not a scalar"));
  EXPECT_TRUE(contains(set("schedule.batch.size=3"),
                       "schedule.batch is a scalar (int64), it has no field"));
  EXPECT_TRUE(contains(set("schedule.batch=12x"), "'12x' is not an integer (schedule.batch"));
  EXPECT_TRUE(contains(set("quantization.fp8.margin=4294967296"), "out of range"));
  EXPECT_TRUE(contains(set("data.seed=-1"), "'-1' is not a non-negative integer"));
  EXPECT_TRUE(contains(set("optimizer.lr=fast"), "'fast' is not a finite number"));
  EXPECT_TRUE(contains(set("optimizer.lr=inf"), "'inf' is not a finite number"));
  EXPECT_TRUE(contains(set("quantization.f32_tables=yes"), "'yes' is not a bool"));
  EXPECT_TRUE(contains(set("precision=fp64"), "not one of precision's values (fp32, bf16)"));
  EXPECT_TRUE(contains(set("model.gpt.dim=64"), "the recipe chose cnn"));
  EXPECT_TRUE(contains(set("schedule.batch"), "expected key.path=value"));
  EXPECT_TRUE(contains(set("model..hidden=3"), "empty field name"));
  // A value that parses but is invalid is validation's, and names the --set.
  EXPECT_EQ(set("model.cnn.hidden=-4"),
            "[recipe] --set model.cnn.hidden=-4: model.cnn.hidden: must be > 0, got -4");
}

TEST(Recipe, ValidationNamesTheFieldAndWhereTheFileSetIt) {
  EXPECT_EQ(parse_error("model {\n  cnn { hidden: -4 }\n}\n"),
            "[recipe] t.textproto:2:9: model.cnn.hidden: must be > 0, got -4");
  EXPECT_TRUE(contains(parse_error("name: \"x\"\n"), "t.textproto: model: no model"));
  EXPECT_TRUE(contains(parse_error(std::string(kGpt) + "schedule { epochs: 2 }"),
                       "t.textproto:2:12: schedule.epochs: language models train for"));
  EXPECT_TRUE(contains(parse_error(std::string(kCnn) + "data { kjv {} }"), "data.kjv:"));
  EXPECT_TRUE(contains(parse_error(std::string(kCnn) + "precision: BF16"),
                       "precision: BF16 autocast is for language models"));
  EXPECT_TRUE(contains(parse_error(std::string(kCnn) + "quantization {\n  ptq_schemes: "
                                                       "[\"w8a8\", \"int3\"]\n}"),
                       "t.textproto:3:3: quantization.ptq_schemes[1]: unknown name 'int3'"));
  EXPECT_TRUE(contains(parse_error(std::string(kCnn) + "quantization { ptq_methods: "
                                                       "[\"llm_int8\", \"gptq\"] }"),
                       "quantization.ptq_methods[1]: unknown name 'gptq'"));
  EXPECT_TRUE(contains(parse_error("model { gpt { dim: 64 heads: 5 } }"),
                       "model.gpt.heads: 5 heads do not divide dim 64"));
  EXPECT_TRUE(contains(parse_error("model { llama { dim: 12 heads: 4 } }"), "even head width"));
  EXPECT_TRUE(
      contains(parse_error(std::string(kGpt) + "quantization { outliers { dims: [3, 64] } }"),
               "quantization.outliers.dims[1]: 64 is outside [0, 64)"));
  EXPECT_TRUE(contains(parse_error(std::string(kCnn) + "optimizer { min_lr: 0.1 }"),
                       "optimizer.min_lr: min_lr 0.1 is above the peak lr 0.002"));
  EXPECT_TRUE(contains(parse_error(std::string(kCnn) + "distributed { accumulation_steps: 0 }"),
                       "distributed.accumulation_steps: must be >= 1"));
  EXPECT_TRUE(contains(parse_error(std::string(kGpt) + "checkpoint { every_steps: 5 }"),
                       "needs checkpoint.path"));
  EXPECT_TRUE(contains(parse_error(std::string(kGpt) + "quantization { fp8 { scaling: CURRENT "
                                                       "history_length: 4 } }"),
                       "quantization.fp8.history_length: current scaling keeps no history"));
}

TEST(RecipeMapping, AnEmptySectionKeepsTheLibraryDefaults) {
  const LoadedRecipe cnn = parse_recipe(kCnn, "t");
  const train::CnnTrainOptions o = cnn_train_options(cnn), d;
  EXPECT_EQ(o.epochs, d.epochs);
  EXPECT_EQ(o.batch, d.batch);
  EXPECT_EQ(o.lr, d.lr);
  EXPECT_EQ(o.min_lr, d.min_lr);
  EXPECT_EQ(o.weight_decay, d.weight_decay);
  EXPECT_EQ(o.warmup, d.warmup);
  EXPECT_EQ(o.seed, d.seed);
  EXPECT_EQ(o.data_dir, d.data_dir);
  EXPECT_EQ(cnn_config(cnn).hidden, models::CnnConfig{}.hidden);
  EXPECT_EQ(cnn_quant_options(cnn).finetune_steps, qat::CnnQuantOptions{}.finetune_steps);
  EXPECT_EQ(distributed_settings(cnn).bucket_mb, 25);
  EXPECT_EQ(distributed_settings(cnn).accumulation_steps, 1);
  EXPECT_EQ(cnn_train_options(cnn).data_parallel.bucket_bytes, 25 << 20);
  const LoadedRecipe dist = parse_recipe(
      "model { gpt {} }", "t", {"distributed.bucket_mb=0.5", "distributed.accumulation_steps=4"});
  EXPECT_EQ(lm_train_options(dist).data_parallel.bucket_bytes, 1 << 19);
  EXPECT_EQ(lm_train_options(dist).accumulation_steps, 4);

  const LoadedRecipe lm = parse_recipe("model { gpt {} }", "t");
  const train::LmTrainOptions l = lm_train_options(lm), ld;
  EXPECT_EQ(l.arch, "gpt");
  EXPECT_EQ(l.model.dim, ld.model.dim);
  EXPECT_EQ(l.model.block, ld.model.block);
  EXPECT_EQ(l.steps, ld.steps);
  EXPECT_EQ(l.lr, ld.lr);
  EXPECT_EQ(l.clip, ld.clip);
  EXPECT_EQ(l.eval_windows, ld.eval_windows);
  EXPECT_EQ(lm_quant_options(lm).finetune_warmup, qat::LmQuantOptions{}.finetune_warmup);
  EXPECT_EQ(freeze_observers_at_step(lm), -1);
  // precision reaches every training loop of the recipe: train, and compare's pre-training and
  // fine-tuning (which start from lm_quant_options' model).
  EXPECT_EQ(l.precision, "fp32");
  const LoadedRecipe bf16 = parse_recipe("model { gpt {} }\nprecision: BF16", "t");
  EXPECT_EQ(lm_train_options(bf16).precision, "bf16");
  EXPECT_EQ(lm_train_run(bf16).options.precision, "bf16");
  EXPECT_EQ(lm_quant_options(bf16).model.precision, "bf16");
}

TEST(RecipeMapping, EveryFieldLandsInItsOptionStruct) {
  const LoadedRecipe r = parse_recipe(R"(
    model { llama { dim: 96 layers: 3 heads: 6 block: 48 mlp_hidden: 256 dropout: 0.1 } }
    data { kjv {} seed: 5 }
    optimizer { lr: 3e-3 min_lr: 3e-4 weight_decay: 0.05 clip: 0.5 }
    schedule { warmup: 7 steps: 90 batch: 12 }
    quantization {
      ptq_schemes: ["w8a8", "w4a8"] qat_schemes: ["fp8_e4m3"] ptq_methods: ["smoothquant"]
      finetune_steps: 11 finetune_lr: 1e-4 finetune_warmup: 2 calibration_batches: 3 seed: 9
      outliers { dims: [1, 2] factor: 8 }
    }
    checkpoint { path: "m.ckpt" every_steps: 30 }
    eval { batch: 4 windows: 10 every_steps: 15 prompt: "Jesus wept" generate_tokens: 9 }
    output { out_dir: "out" }
  )",
                                      "t");
  const LmTrainRun run = lm_train_run(r);
  const train::LmTrainOptions& o = run.options;
  EXPECT_EQ(o.arch, "llama");
  EXPECT_EQ(o.model.dim, 96);
  EXPECT_EQ(o.model.layers, 3);
  EXPECT_EQ(o.model.heads, 6);
  EXPECT_EQ(o.model.block, 48);
  EXPECT_EQ(o.model.mlp_hidden, 256);
  EXPECT_DOUBLE_EQ(o.model.dropout, 0.1);
  EXPECT_EQ(o.seed, 5u);
  EXPECT_DOUBLE_EQ(o.lr, 3e-3);
  EXPECT_DOUBLE_EQ(o.min_lr, 3e-4);
  EXPECT_DOUBLE_EQ(o.weight_decay, 0.05);
  EXPECT_DOUBLE_EQ(o.clip, 0.5);
  EXPECT_EQ(o.warmup, 7);
  EXPECT_EQ(o.steps, 90);
  EXPECT_EQ(o.batch, 12);
  EXPECT_EQ(o.eval_windows, 10);
  EXPECT_EQ(run.eval_every, 15);
  EXPECT_EQ(run.save, "m.ckpt");
  EXPECT_EQ(run.save_every, 30);

  const LmCompareSettings s = compare_lm_settings(r);
  EXPECT_EQ(s.common.schemes, (std::vector<std::string>{"w8a8", "w4a8", "smoothquant"}));
  EXPECT_EQ(s.common.qat_schemes, (std::vector<std::string>{"fp8_e4m3"}));
  EXPECT_EQ(s.common.out_dir, "out");
  EXPECT_EQ(s.eval_batch, 4);
  EXPECT_EQ(s.prompt, "Jesus wept");
  EXPECT_EQ(s.tokens, 9);
  const qat::LmQuantOptions& e = s.experiment;
  EXPECT_EQ(e.checkpoint, "m.ckpt");
  EXPECT_EQ(e.model.model.dim, 96);
  EXPECT_EQ(e.schemes, (std::vector<std::string>{"w8a8", "w4a8"}));
  EXPECT_EQ(e.ptq_methods, (std::vector<std::string>{"smoothquant"}));
  EXPECT_EQ(e.finetune_steps, 11);
  EXPECT_DOUBLE_EQ(e.finetune_lr, 1e-4);
  EXPECT_EQ(e.finetune_warmup, 2);
  EXPECT_EQ(e.calibration_batches, 3);
  EXPECT_EQ(e.seed, 9u);
  EXPECT_EQ(e.outlier_dims, (std::vector<int64_t>{1, 2}));
  EXPECT_DOUBLE_EQ(e.outlier_factor, 8);

  const LoadedRecipe c = parse_recipe(R"(
    model { cnn { channels1: 8 channels2: 16 hidden: 32 dropout: 0 } }
    data { fashion_mnist { dir: "/d" train_limit: 100 test_limit: 50 } seed: 3 }
    schedule { epochs: 2 batch: 64 }
    quantization { ptq_schemes: "w2a8" finetune_steps: 4 }
    checkpoint { path: "c.ckpt" }
  )",
                                      "t");
  const CnnCompareSettings cs = compare_cnn_settings(c);
  EXPECT_EQ(cs.model.channels1, 8);
  EXPECT_EQ(cs.model.hidden, 32);
  EXPECT_EQ(cs.base.epochs, 2);
  EXPECT_EQ(cs.base.train_limit, 100);
  EXPECT_EQ(cs.base.test_limit, 50);
  EXPECT_EQ(cs.base.seed, 3u);
  EXPECT_EQ(cs.checkpoint, "c.ckpt");
  EXPECT_EQ(cs.experiment.batch, 64) << "one batch for training, calibration and QAT";
  EXPECT_EQ(cs.experiment.data_dir, "/d");
  EXPECT_EQ(cs.experiment.schemes, (std::vector<std::string>{"w2a8"}));
  ASSERT_TRUE(cs.experiment.qat_schemes.has_value());
  EXPECT_TRUE(cs.experiment.qat_schemes->empty()) << "no qat_schemes: no QAT rows";
}

TEST(RecipeMapping, QuantizationSettingsOfPtqAndExport) {
  const LoadedRecipe r = parse_recipe(std::string(kGpt) + R"(
    quantization { skip: ["attn.proj"] freeze_observers_at_step: 5
                   fp8 { scaling: DELAYED history_length: 4 margin: 2 } })",
                                      "t");
  const qat::QatConfig fp8 = qat_config(r, "fp8_e4m3");
  EXPECT_EQ(fp8.skip, (std::vector<std::string>{"lm_head", "attn.proj"}));
  EXPECT_EQ(fp8.layers.input.spec.scale_source, quant::ScaleSource::kAmaxHistory);
  EXPECT_EQ(fp8.layers.input.observer.history_length, 4);
  EXPECT_EQ(fp8.layers.input.observer.margin, 2);
  const qat::QatConfig int8 = qat_config(r, "w8a8");
  EXPECT_EQ(int8.layers.input.observer.margin, 0) << "fp8 settings leave int8 inputs alone";
  EXPECT_EQ(int8.layers.input.spec.scale_source,
            qat::scheme_config("w8a8").input.spec.scale_source);
  EXPECT_EQ(freeze_observers_at_step(r), 5);
  const LoadedRecipe current =
      parse_recipe(std::string(kGpt) + "quantization { fp8 { scaling: CURRENT } }", "t");
  EXPECT_EQ(qat_config(current, "fp8_e4m3").layers.input.spec.scale_source,
            quant::ScaleSource::kCurrent);
  EXPECT_EQ(qat_config(current, "smoothquant").layers.weight.spec.format,
            qat::scheme_config("w8a8").weight.spec.format);
}

TEST(RecipeMapping, CompareGetsTheQuantizationSettingsOfPtqAndExport) {
  const LoadedRecipe r = parse_recipe(std::string(kGpt) + R"(
    quantization { skip: ["attn.proj"] freeze_observers_at_step: 5 llm_int8_threshold: 4.5
                   fp8 { scaling: DELAYED history_length: 4 margin: 2 } f32_tables: false })",
                                      "t");
  const qat::LmQuantOptions e = compare_lm_settings(r).experiment;
  ASSERT_TRUE(e.config_for);
  const qat::QatConfig fp8 = e.config_for("fp8_e4m3");
  EXPECT_EQ(fp8.layers.input.observer.history_length, 4);
  EXPECT_EQ(fp8.layers.input.observer.margin, 2);
  EXPECT_TRUE(std::find(fp8.skip.begin(), fp8.skip.end(), "attn.proj") != fp8.skip.end());
  EXPECT_TRUE(fp8.embeddings.has_value()) << "f32_tables: false asks for int8 tables";
  ASSERT_TRUE(e.qat_schedule.has_value());
  EXPECT_EQ(e.qat_schedule->fake_quant_from_step, 0);
  EXPECT_EQ(e.qat_schedule->freeze_observers_at_step, 5);
  EXPECT_DOUBLE_EQ(e.llm_int8_threshold, 4.5);

  // Unset, compare keeps what it always did: tables f32 (lm_head skipped), observers never
  // frozen, the default threshold.
  const qat::LmQuantOptions plain = compare_lm_settings(parse_recipe(kGpt, "t")).experiment;
  ASSERT_TRUE(plain.config_for);
  const qat::QatConfig w8a8 = plain.config_for("w8a8");
  EXPECT_EQ(w8a8.skip, (std::vector<std::string>{"lm_head"}));
  EXPECT_FALSE(w8a8.embeddings.has_value());
  EXPECT_FALSE(plain.qat_schedule.has_value());
  EXPECT_DOUBLE_EQ(plain.llm_int8_threshold, qat::kLlmInt8Threshold);
  EXPECT_FALSE(compare_lm_settings(
                   parse_recipe(std::string(kGpt) + "quantization { f32_tables: true }", "t"))
                   .experiment.config_for("w8a8")
                   .embeddings.has_value());

  // FP8 current scaling: the fake-quant validation runs 16 windows per forward, so the runtime
  // must too; the CNN's fake-quant rows follow eval.batch instead.
  const std::string current = std::string(kGpt) + "quantization { fp8 { scaling: CURRENT } }\n";
  EXPECT_TRUE(usage_error([&] { compare_lm_settings(parse_recipe(current, "t")); }).empty());
  EXPECT_TRUE(usage_error([&] {
                compare_lm_settings(parse_recipe(current + "eval { batch: 16 }", "t"));
              }).empty());
  const std::string e8 =
      usage_error([&] { compare_lm_settings(parse_recipe(current + "eval { batch: 8 }", "t")); });
  EXPECT_TRUE(contains(e8, "t:3:8: eval.batch: must be 16 with quantization.fp8.scaling CURRENT"))
      << e8;
  const CnnCompareSettings cnn = compare_cnn_settings(parse_recipe(
      std::string(kCnn) + "quantization { fp8 { scaling: CURRENT } } eval { batch: 100 }", "t"));
  EXPECT_EQ(cnn.experiment.eval_batch, 100) << "fake-quant rows scored in the runtime's chunks";
  EXPECT_EQ(cnn.experiment.test_limit, 0) << "the runtime scores every test image";
  EXPECT_EQ(cnn.experiment.config_for("fp8_e4m3").layers.input.spec.scale_source,
            quant::ScaleSource::kCurrent);
}

TEST(RecipeMapping, CompareMappedConfigSkipsTheRecipesLayers) {
  const LoadedRecipe r = parse_recipe(std::string(kCnn) + R"(
    quantization { ptq_schemes: "w8a8" skip: ["fc2", "conv1"] freeze_observers_at_step: 2 })",
                                      "t");
  const qat::CnnQuantOptions e = compare_cnn_settings(r).experiment;
  ASSERT_TRUE(e.config_for);
  ASSERT_TRUE(e.qat_schedule.has_value());
  EXPECT_EQ(e.qat_schedule->freeze_observers_at_step, 2);
  Generator gen(1);
  models::Cnn cnn(cnn_config(r), gen);
  EXPECT_EQ(qat::prepare(cnn, e.config_for("w8a8")), (std::vector<std::string>{"conv2", "fc1"}));
  EXPECT_EQ(cnn.child("fc2")->type_name(), "Linear");
  EXPECT_EQ(cnn.child("conv1")->type_name(), "Conv2d");
  EXPECT_EQ(cnn.child("fc1")->type_name(), "QuantLinear");
}

TEST(LoadedRecipe, WhereFindsRepeatedElementsAndEnclosingMessages) {
  const LoadedRecipe r = parse_recipe(
      "model { cnn {} }\nquantization {\n  ptq_schemes: \"w8a8\"\n  ptq_schemes: \"w4a8\"\n}\n",
      "f", {"schedule.batch=32"});
  EXPECT_EQ(r.where("quantization.ptq_schemes[1]"), "f:4:3");
  EXPECT_EQ(r.where("quantization.finetune_steps"), "f:2:1") << "not set: its enclosing message";
  EXPECT_EQ(r.where("model.cnn.hidden"), "f:1:9");
  EXPECT_EQ(r.where("schedule.batch"), "--set schedule.batch=32");
  EXPECT_EQ(r.where("eval.batch"), "f");
  EXPECT_EQ(usage_error([] { load_recipe("/no/such/recipe.textproto"); }),
            "[recipe] /no/such/recipe.textproto: cannot read the recipe: No such file or "
            "directory");
}

}  // namespace
}  // namespace octet::tools
