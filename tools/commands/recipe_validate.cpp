// validate_recipe: everything about a recipe that can be wrong before a run starts, each failure
// naming the field and where it was set (file:line:col or the --set).
#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "qat/schemes.h"
#include "tools/commands/recipe.h"
#include "tools/commands/recipe_mapping.h"

namespace octet::tools {
namespace {

std::string str(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string join(const std::vector<std::string>& names) {
  std::string all;
  for (const std::string& n : names) all += (all.empty() ? "" : ", ") + n;
  return all;
}

// Small helpers that check one field when the recipe sets it.
struct Checker {
  const LoadedRecipe& r;

  void positive(bool has, double v, const std::string& field) const {
    if (has && !(v > 0)) r.fail(field, "must be > 0, got " + str(v));
  }
  void non_negative(bool has, double v, const std::string& field) const {
    if (has && !(v >= 0)) r.fail(field, "must be >= 0, got " + str(v));
  }
  void fraction(bool has, double v, const std::string& field) const {
    if (has && !(v >= 0 && v < 1)) r.fail(field, "must be in [0, 1), got " + str(v));
  }
  void not_empty(bool has, const std::string& v, const std::string& field) const {
    if (has && v.empty()) r.fail(field, "must not be empty");
  }
  // A field that means something for one kind of model only.
  void only(bool has, bool applies, const std::string& field, const std::string& why) const {
    if (has && !applies) r.fail(field, why);
  }
  // Every name known and none twice.
  void names(const google::protobuf::RepeatedPtrField<std::string>& list, const std::string& field,
             const std::vector<std::string>& known) const {
    std::set<std::string> seen;
    for (int i = 0; i < list.size(); ++i) {
      const std::string at = field + "[" + std::to_string(i) + "]";
      if (std::find(known.begin(), known.end(), list.Get(i)) == known.end())
        r.fail(at, "unknown name '" + list.Get(i) + "' (known: " + join(known) + ")");
      if (!seen.insert(list.Get(i)).second) r.fail(at, "'" + list.Get(i) + "' is listed twice");
    }
  }
};

void check_model(const Checker& c, const LoadedRecipe& r) {
  const proto::Recipe::Model& m = r.proto().model();
  if (m.has_cnn()) {
    const proto::Recipe::Cnn& cnn = m.cnn();
    c.positive(cnn.has_channels1(), cnn.channels1(), "model.cnn.channels1");
    c.positive(cnn.has_channels2(), cnn.channels2(), "model.cnn.channels2");
    c.positive(cnn.has_hidden(), cnn.hidden(), "model.cnn.hidden");
    c.fraction(cnn.has_dropout(), cnn.dropout(), "model.cnn.dropout");
    return;
  }
  const std::string at = "model." + r.model_kind() + ".";
  const proto::Recipe::Transformer& t = m.has_gpt() ? m.gpt() : m.llama();
  c.positive(t.has_dim(), t.dim(), at + "dim");
  c.positive(t.has_layers(), t.layers(), at + "layers");
  c.positive(t.has_heads(), t.heads(), at + "heads");
  c.positive(t.has_block(), t.block(), at + "block");
  c.non_negative(t.has_mlp_hidden(), t.mlp_hidden(), at + "mlp_hidden");
  c.fraction(t.has_dropout(), t.dropout(), at + "dropout");
  const models::GptConfig g = lm_train_options(r).model;
  if (g.dim % g.heads != 0)
    r.fail(at + "heads",
           std::to_string(g.heads) + " heads do not divide dim " + std::to_string(g.dim));
  if (m.has_llama() && (g.dim / g.heads) % 2 != 0)
    r.fail(at + "heads",
           "RoPE needs an even head width, dim / heads = " + std::to_string(g.dim / g.heads));
}

void check_training(const Checker& c, const LoadedRecipe& r) {
  const proto::Recipe& p = r.proto();
  const bool cnn = r.is_cnn();
  if (cnn && p.data().has_kjv())
    r.fail("data.kjv", "the King James text is for gpt or llama; model.cnn reads fashion_mnist");
  if (!cnn && p.data().has_fashion_mnist())
    r.fail("data.fashion_mnist", "Fashion-MNIST is for model.cnn; " + r.model_kind() +
                                     " reads the King James text (data { kjv {} })");
  const proto::Recipe::FashionMnist& f = p.data().fashion_mnist();
  c.not_empty(f.has_dir(), f.dir(), "data.fashion_mnist.dir");
  c.non_negative(f.has_train_limit(), f.train_limit(), "data.fashion_mnist.train_limit");
  c.non_negative(f.has_test_limit(), f.test_limit(), "data.fashion_mnist.test_limit");

  const proto::Recipe::Optimizer& o = p.optimizer();
  c.positive(o.has_lr(), o.lr(), "optimizer.lr");
  c.non_negative(o.has_min_lr(), o.min_lr(), "optimizer.min_lr");
  c.non_negative(o.has_weight_decay(), o.weight_decay(), "optimizer.weight_decay");
  c.non_negative(o.has_clip(), o.clip(), "optimizer.clip");
  c.only(o.has_clip(), !cnn, "optimizer.clip", "the CNN's training loop does not clip gradients");
  const double lr = cnn ? cnn_train_options(r).lr : lm_train_options(r).lr;
  const double min_lr = cnn ? cnn_train_options(r).min_lr : lm_train_options(r).min_lr;
  if (min_lr > lr)
    r.fail(o.has_min_lr() ? "optimizer.min_lr" : "optimizer.lr",
           "min_lr " + str(min_lr) + " is above the peak lr " + str(lr));

  const proto::Recipe::Schedule& s = p.schedule();
  c.non_negative(s.has_warmup(), s.warmup(), "schedule.warmup");
  c.positive(s.has_epochs(), s.epochs(), "schedule.epochs");
  c.positive(s.has_steps(), s.steps(), "schedule.steps");
  c.positive(s.has_batch(), s.batch(), "schedule.batch");
  c.only(s.has_epochs(), cnn, "schedule.epochs",
         "language models train for schedule.steps, not epochs");
  c.only(s.has_steps(), !cnn, "schedule.steps", "the CNN trains for schedule.epochs, not steps");
  if (cnn && p.precision() == proto::Recipe::BF16)
    r.fail("precision",
           "BF16 autocast is for language models; the CNN trains in FP32 (autocast covers "
           "matmul and linear, not conv2d, which does most of its work)");
}

void check_quantization(const Checker& c, const LoadedRecipe& r) {
  const proto::Recipe::Quantization& q = r.proto().quantization();
  const bool cnn = r.is_cnn();
  const std::string lm_only = "applies to gpt and llama only";
  c.names(q.ptq_schemes(), "quantization.ptq_schemes", qat::scheme_names());
  c.names(q.qat_schemes(), "quantization.qat_schemes", qat::scheme_names());
  c.names(q.ptq_methods(), "quantization.ptq_methods", {"llm_int8", "smoothquant"});
  c.positive(q.has_finetune_steps(), q.finetune_steps(), "quantization.finetune_steps");
  c.positive(q.has_finetune_lr(), q.finetune_lr(), "quantization.finetune_lr");
  c.non_negative(q.has_finetune_warmup(), q.finetune_warmup(), "quantization.finetune_warmup");
  c.only(q.has_finetune_warmup(), !cnn, "quantization.finetune_warmup",
         "the CNN fine-tunes without warm-up");
  c.positive(q.has_calibration_batches(), q.calibration_batches(),
             "quantization.calibration_batches");

  c.only(q.has_outliers(), !cnn, "quantization.outliers", lm_only);
  c.positive(q.outliers().has_factor(), q.outliers().factor(), "quantization.outliers.factor");
  const int64_t dim = cnn ? 0 : lm_train_options(r).model.dim;
  std::set<int64_t> dims;
  for (int i = 0; i < q.outliers().dims_size(); ++i) {
    const int64_t d = q.outliers().dims(i);
    const std::string at = "quantization.outliers.dims[" + std::to_string(i) + "]";
    if (d < 0 || d >= dim)
      r.fail(at, std::to_string(d) + " is outside [0, " + std::to_string(dim) + ")");
    if (!dims.insert(d).second) r.fail(at, std::to_string(d) + " is listed twice");
  }

  for (int i = 0; i < q.skip_size(); ++i)
    c.not_empty(true, q.skip(i), "quantization.skip[" + std::to_string(i) + "]");
  c.non_negative(q.has_freeze_observers_at_step(), q.freeze_observers_at_step(),
                 "quantization.freeze_observers_at_step");
  const proto::Recipe::Fp8& f = q.fp8();
  const bool current = f.scaling() == proto::Recipe::Fp8::CURRENT;
  c.positive(f.has_history_length(), f.history_length(), "quantization.fp8.history_length");
  c.only(f.has_history_length(), !current, "quantization.fp8.history_length",
         "current scaling keeps no history (scaling: DELAYED does)");
  c.non_negative(f.has_margin(), f.margin(), "quantization.fp8.margin");
  c.only(f.has_margin(), !current, "quantization.fp8.margin",
         "the margin applies to delayed scaling's observer only");
  c.positive(q.has_llm_int8_threshold(), q.llm_int8_threshold(), "quantization.llm_int8_threshold");
  c.only(q.has_f32_tables(), !cnn, "quantization.f32_tables",
         "the CNN has no embedding tables or lm_head");
}

void check_rest(const Checker& c, const LoadedRecipe& r) {
  const proto::Recipe& p = r.proto();
  const bool cnn = r.is_cnn();
  const std::string lm_only = "applies to gpt and llama only";
  c.positive(p.distributed().has_bucket_mb(), p.distributed().bucket_mb(), "distributed.bucket_mb");
  if (p.distributed().accumulation_steps() < 1)
    r.fail("distributed.accumulation_steps",
           "must be >= 1, got " + std::to_string(p.distributed().accumulation_steps()));
  c.not_empty(p.checkpoint().has_path(), p.checkpoint().path(), "checkpoint.path");
  c.positive(p.checkpoint().has_every_steps(), p.checkpoint().every_steps(),
             "checkpoint.every_steps");
  c.only(p.checkpoint().has_every_steps(), !cnn, "checkpoint.every_steps",
         "the CNN trains in one call and its checkpoint holds no optimizer state to resume");
  if (p.checkpoint().has_every_steps() && !p.checkpoint().has_path())
    r.fail("checkpoint.every_steps", "needs checkpoint.path to write to");
  const proto::Recipe::Eval& e = p.eval();
  c.positive(e.has_batch(), e.batch(), "eval.batch");
  c.positive(e.has_windows(), e.windows(), "eval.windows");
  c.positive(e.has_every_steps(), e.every_steps(), "eval.every_steps");
  c.non_negative(e.has_generate_tokens(), e.generate_tokens(), "eval.generate_tokens");
  c.not_empty(e.has_prompt(), e.prompt(), "eval.prompt");
  c.only(e.has_windows(), !cnn, "eval.windows", lm_only);
  c.only(e.has_every_steps(), !cnn, "eval.every_steps", "the CNN evaluates after every epoch");
  c.only(e.has_prompt(), !cnn, "eval.prompt", lm_only);
  c.only(e.has_generate_tokens(), !cnn, "eval.generate_tokens", lm_only);
  c.not_empty(p.output().has_out_dir(), p.output().out_dir(), "output.out_dir");
}

}  // namespace

void validate_recipe(const LoadedRecipe& r) {
  if (r.model_kind().empty())
    r.fail("model", "no model: say which, e.g. model { cnn {} } or model { gpt { dim: 256 } }");
  const Checker c{r};
  check_model(c, r);
  check_training(c, r);
  check_quantization(c, r);
  check_rest(c, r);
}

}  // namespace octet::tools
