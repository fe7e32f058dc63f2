#include "tools/commands/recipe_mapping.h"

#include <algorithm>

#include "qat/llm_int8.h"
#include "qat/prepare.h"
#include "qat/schemes.h"

namespace octet::tools {

using proto::Recipe;

// ---- FP32 training ----------------------------------------------------------------------------

models::CnnConfig cnn_config(const LoadedRecipe& r) {
  const Recipe::Cnn& m = r.proto().model().cnn();
  models::CnnConfig c;
  if (m.has_channels1()) c.channels1 = m.channels1();
  if (m.has_channels2()) c.channels2 = m.channels2();
  if (m.has_hidden()) c.hidden = m.hidden();
  if (m.has_dropout()) c.dropout = m.dropout();
  return c;
}

train::CnnTrainOptions cnn_train_options(const LoadedRecipe& r) {
  const Recipe& p = r.proto();
  train::CnnTrainOptions o;
  const Recipe::FashionMnist& data = p.data().fashion_mnist();
  if (data.has_dir()) o.data_dir = data.dir();
  if (data.has_train_limit()) o.train_limit = data.train_limit();
  if (data.has_test_limit()) o.test_limit = data.test_limit();
  if (p.data().has_seed()) o.seed = p.data().seed();
  if (p.optimizer().has_lr()) o.lr = p.optimizer().lr();
  if (p.optimizer().has_min_lr()) o.min_lr = p.optimizer().min_lr();
  if (p.optimizer().has_weight_decay()) o.weight_decay = p.optimizer().weight_decay();
  if (p.schedule().has_warmup()) o.warmup = p.schedule().warmup();
  if (p.schedule().has_epochs()) o.epochs = p.schedule().epochs();
  if (p.schedule().has_batch()) o.batch = p.schedule().batch();
  apply_distributed(r, o.data_parallel, o.accumulation_steps);
  return o;
}

train::LmTrainOptions lm_train_options(const LoadedRecipe& r) {
  const Recipe& p = r.proto();
  train::LmTrainOptions o;
  o.arch = p.model().has_llama() ? "llama" : "gpt";
  const Recipe::Transformer& m = p.model().has_llama() ? p.model().llama() : p.model().gpt();
  if (m.has_dim()) o.model.dim = m.dim();
  if (m.has_layers()) o.model.layers = m.layers();
  if (m.has_heads()) o.model.heads = m.heads();
  if (m.has_block()) o.model.block = m.block();
  if (m.has_mlp_hidden()) o.model.mlp_hidden = m.mlp_hidden();
  if (m.has_dropout()) o.model.dropout = m.dropout();
  if (p.data().has_seed()) o.seed = p.data().seed();
  if (p.optimizer().has_lr()) o.lr = p.optimizer().lr();
  if (p.optimizer().has_min_lr()) o.min_lr = p.optimizer().min_lr();
  if (p.optimizer().has_weight_decay()) o.weight_decay = p.optimizer().weight_decay();
  if (p.optimizer().has_clip()) o.clip = p.optimizer().clip();
  if (p.schedule().has_warmup()) o.warmup = p.schedule().warmup();
  if (p.schedule().has_steps()) o.steps = p.schedule().steps();
  if (p.schedule().has_batch()) o.batch = p.schedule().batch();
  apply_distributed(r, o.data_parallel, o.accumulation_steps);
  if (p.eval().has_windows()) o.eval_windows = p.eval().windows();
  o.precision = p.precision() == Recipe::BF16 ? "bf16" : "fp32";
  return o;
}

LmTrainRun lm_train_run(const LoadedRecipe& r) {
  const Recipe& p = r.proto();
  LmTrainRun run;
  run.options = lm_train_options(r);
  if (p.eval().has_every_steps()) run.eval_every = p.eval().every_steps();
  run.save = p.checkpoint().path();
  run.save_every = p.checkpoint().every_steps();
  return run;
}

// ---- quantization -----------------------------------------------------------------------------

namespace {

std::vector<std::string> list(const google::protobuf::RepeatedPtrField<std::string>& names) {
  return {names.begin(), names.end()};
}

// The settings both experiments share; `Options` is CnnQuantOptions or LmQuantOptions.
template <typename Options>
void quant_common(const LoadedRecipe& r, Options& o) {
  const Recipe::Quantization& q = r.proto().quantization();
  o.schemes = list(q.ptq_schemes());
  o.qat_schemes = list(q.qat_schemes());
  if (q.has_finetune_steps()) o.finetune_steps = q.finetune_steps();
  if (q.has_finetune_lr()) o.finetune_lr = q.finetune_lr();
  if (q.has_calibration_batches()) o.calibration_batches = q.calibration_batches();
  if (q.has_seed()) o.seed = q.seed();
  // Each row's QatConfig as `ptq` / `export` build it (skip, fp8), except the tables: the
  // experiments keep embeddings and lm_head f32 unless f32_tables is explicitly false.
  const bool int8_tables = q.has_f32_tables() && !q.f32_tables();
  o.config_for = [r, int8_tables](const std::string& scheme) {
    const qat::QatConfig c = qat_config(r, scheme);
    return int8_tables ? qat::with_int8_embeddings_and_head(c) : c;
  };
  if (q.has_freeze_observers_at_step())
    o.qat_schedule = qat::QatSchedule{0, q.freeze_observers_at_step()};
}

// LmTrainer::validation_loss, which scores the fake-quant rows, runs 16 windows per forward.
constexpr int64_t kLmValidationWindowsPerForward = 16;

// What `octet compare` still cannot honour.
void reject_for_compare(const LoadedRecipe& r) {
  const Recipe& p = r.proto();
  const bool current = p.quantization().fp8().scaling() == Recipe::Fp8::CURRENT;
  if (!r.is_cnn() && current && p.eval().has_batch() &&
      p.eval().batch() != kLmValidationWindowsPerForward)
    r.fail("eval.batch",
           "must be " + std::to_string(kLmValidationWindowsPerForward) +
               " with quantization.fp8.scaling CURRENT: a per-tensor current scale depends on "
               "the batch it is taken over, and `octet compare` scores the fake-quant model "
               "(LmTrainer::validation_loss) 16 windows per forward, the runtime eval.batch");
}

CompareCommon compare_common(const LoadedRecipe& r, const std::string& default_dir) {
  const Recipe& p = r.proto();
  CompareCommon c;
  c.schemes = list(p.quantization().ptq_schemes());
  for (const std::string& m : p.quantization().ptq_methods()) c.schemes.push_back(m);
  c.qat_schemes = list(p.quantization().qat_schemes());
  c.out_dir = p.output().has_out_dir() ? p.output().out_dir() : default_dir;
  return c;
}

}  // namespace

qat::CnnQuantOptions cnn_quant_options(const LoadedRecipe& r) {
  qat::CnnQuantOptions o;
  quant_common(r, o);
  const train::CnnTrainOptions t = cnn_train_options(r);
  o.batch = t.batch;
  o.data_dir = t.data_dir;
  o.ptq_methods = list(r.proto().quantization().ptq_methods());
  if (r.proto().quantization().has_llm_int8_threshold())
    o.llm_int8_threshold = r.proto().quantization().llm_int8_threshold();
  return o;
}

qat::LmQuantOptions lm_quant_options(const LoadedRecipe& r) {
  const Recipe::Quantization& q = r.proto().quantization();
  qat::LmQuantOptions o;
  o.model = lm_train_options(r);
  o.checkpoint = r.proto().checkpoint().path();
  quant_common(r, o);
  if (q.has_finetune_warmup()) o.finetune_warmup = q.finetune_warmup();
  o.ptq_methods = list(q.ptq_methods());
  o.outlier_dims = {q.outliers().dims().begin(), q.outliers().dims().end()};
  if (q.outliers().has_factor()) o.outlier_factor = q.outliers().factor();
  if (q.has_llm_int8_threshold()) o.llm_int8_threshold = q.llm_int8_threshold();
  return o;
}

CnnCompareSettings compare_cnn_settings(const LoadedRecipe& r) {
  reject_for_compare(r);
  CnnCompareSettings s;
  s.common = compare_common(r, s.common.out_dir);
  s.base = cnn_train_options(r);
  s.model = cnn_config(r);
  s.checkpoint = r.proto().checkpoint().path();
  if (r.proto().eval().has_batch()) s.eval_batch = r.proto().eval().batch();
  s.experiment = cnn_quant_options(r);
  // The fake-quant rows see the batches the runtime will (per-tensor current scales depend on
  // them); experiment.test_limit stays 0: the runtime scores every test image.
  s.experiment.eval_batch = s.eval_batch;
  return s;
}

LmCompareSettings compare_lm_settings(const LoadedRecipe& r) {
  reject_for_compare(r);
  const Recipe& p = r.proto();
  LmCompareSettings s;
  s.common = compare_common(r, s.common.out_dir);
  s.experiment = lm_quant_options(r);
  // Used when the command trains the FP32 model itself (no checkpoint).
  s.train_steps = s.experiment.model.steps;
  s.train_lr = s.experiment.model.lr;
  if (p.eval().has_batch()) s.eval_batch = p.eval().batch();
  if (p.eval().has_prompt()) s.prompt = p.eval().prompt();
  if (p.eval().has_generate_tokens()) s.tokens = p.eval().generate_tokens();
  return s;
}

qat::QatConfig qat_config(const LoadedRecipe& r, const std::string& scheme) {
  const Recipe::Quantization& q = r.proto().quantization();
  qat::QatConfig c;
  c.layers = qat::scheme_config(scheme == "smoothquant" ? "w8a8" : scheme);
  for (const std::string& s : q.skip())
    if (std::find(c.skip.begin(), c.skip.end(), s) == c.skip.end()) c.skip.push_back(s);
  qat::TensorQuantConfig& input = c.layers.input;
  if (q.has_fp8() && input.spec.is_fp8()) {
    const Recipe::Fp8& f = q.fp8();
    if (f.scaling() == Recipe::Fp8::CURRENT) {
      input.spec.scale_source = quant::ScaleSource::kCurrent;
    } else {
      input.spec.scale_source = quant::ScaleSource::kAmaxHistory;
      if (f.has_history_length()) input.observer.history_length = f.history_length();
      if (f.has_margin()) input.observer.margin = f.margin();
    }
  }
  return c;
}

int64_t freeze_observers_at_step(const LoadedRecipe& r) {
  const Recipe::Quantization& q = r.proto().quantization();
  return q.has_freeze_observers_at_step() ? q.freeze_observers_at_step() : -1;
}

DistributedSettings distributed_settings(const LoadedRecipe& r) {
  const Recipe::Distributed& d = r.proto().distributed();
  return {d.bucket_mb(), d.accumulation_steps()};
}

void apply_distributed(const LoadedRecipe& r, parallel::DataParallelOptions& data_parallel,
                       int64_t& accumulation_steps) {
  const DistributedSettings d = distributed_settings(r);
  data_parallel.bucket_bytes = static_cast<int64_t>(d.bucket_mb * (1 << 20));
  accumulation_steps = d.accumulation_steps;
}

}  // namespace octet::tools
