#include "tools/commands/recipe_runs.h"

#include <cstdio>
#include <filesystem>

#include "framework/io/checkpoint.h"
#include "tools/commands/compare_settings.h"
#include "tools/commands/recipe_mapping.h"
#include "tools/commands/train_command.h"

namespace octet::tools {
namespace {

void announce(const LoadedRecipe& r, const std::string& what) {
  const std::string name = r.proto().has_name() ? r.proto().name() : r.source();
  std::printf("recipe %s (%s): %s, model %s\n", name.c_str(), r.source().c_str(), what.c_str(),
              r.model_kind().c_str());
  std::fflush(stdout);
}

std::string sizes(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : "-") + std::to_string(x);
  return s;
}

// An existing checkpoint is only a starting point if it holds the recipe's model; otherwise
// the user gets a clear choice instead of a shape error deep inside the load.
void check_checkpoint_matches(const LoadedRecipe& r, const std::string& path) {
  const auto meta = io::checkpoint_metadata(path);
  const std::string arch = meta.count("arch") ? meta.at("arch") : "";
  std::string held, wanted;
  if (r.is_cnn()) {
    const models::CnnConfig c = meta.count("model.channels1")
                                    ? train::cnn_config_from_metadata(meta, path)
                                    : models::CnnConfig{};
    const models::CnnConfig w = cnn_config(r);
    held = arch + " " + sizes({c.channels1, c.channels2, c.hidden});
    wanted = "cnn " + sizes({w.channels1, w.channels2, w.hidden});
  } else if (train::has_lm_architecture(meta)) {
    train::LmTrainOptions c;
    train::lm_architecture_from_metadata(meta, path, c);
    const train::LmTrainOptions w = lm_train_options(r);
    auto describe = [](const train::LmTrainOptions& o) {
      const models::GptConfig& g = o.model;
      return o.arch + " dim " + std::to_string(g.dim) + " layers " + std::to_string(g.layers) +
             " heads " + std::to_string(g.heads) + " block " + std::to_string(g.block) +
             " mlp_hidden " + std::to_string(g.mlp_hidden);
    };
    held = describe(c);
    wanted = describe(w);
  } else {
    held = arch + " (no dims recorded)";
    wanted = r.model_kind() + " with recorded dims";
  }
  if (held != wanted)
    r.fail("checkpoint.path", path + " holds " + held + " but the recipe's model is " + wanted +
                                  "; delete the file to train it again, or point checkpoint.path "
                                  "elsewhere");
}

bool exists(const std::string& path) {
  return !path.empty() && std::filesystem::is_regular_file(path);
}

}  // namespace

void add_recipe_options(CLI::App* cmd, RecipeArgs& args) {
  cmd->add_option("--recipe", args.path, "a recipe (protobuf text, see recipes/*.textproto)");
  cmd->add_option("--set", args.sets,
                  "override a recipe field, e.g. --set model.cnn.hidden=64 (repeatable; lists "
                  "comma-separated)")
      ->type_name("KEY=VALUE")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

void require_recipe_or_subcommand(const CLI::App& cmd, const RecipeArgs& args) {
  const bool subcommand = !cmd.get_subcommands().empty();
  const std::string name = cmd.get_name();
  if (subcommand && !args.path.empty())
    throw UsageError(name, "give --recipe or a subcommand, not both");
  if (!subcommand && args.path.empty())
    throw UsageError(name, "say what to run: --recipe R, or a subcommand (octet " + name +
                               " --help lists them)");
  if (args.path.empty() && !args.sets.empty())
    throw UsageError(name, "--set overrides a recipe field, and there is no --recipe");
}

int run_train_recipe(const LoadedRecipe& r, const std::string& resume, const TrainTarget& target) {
  if (r.is_cnn()) {
    if (!resume.empty())
      throw UsageError("train",
                       "--resume: the CNN trains in one call and its checkpoint holds no "
                       "optimizer state to resume from");
    train::CnnTrainOptions o = cnn_train_options(r);
    apply_train_target(target, o);
    announce(r, "FP32 training");
    return train_cnn_run(o, cnn_config(r), r.proto().checkpoint().path());
  }
  LmTrainRun run = lm_train_run(r);
  apply_train_target(target, run.options);
  announce(r, run.options.precision == "bf16" ? "BF16-autocast training" : "FP32 training");
  return train_lm_run(run, resume);
}

int run_compare_recipe(const LoadedRecipe& r) {
  announce(r, "FP32 vs PTQ vs QAT");
  if (r.is_cnn()) {
    CnnCompareSettings s = compare_cnn_settings(r);
    if (exists(s.checkpoint)) {
      check_checkpoint_matches(r, s.checkpoint);
      std::printf("FP32 model from %s (checkpoint.path; delete it to train again)\n",
                  s.checkpoint.c_str());
    } else {
      s.save = s.checkpoint;  // trained here, then written there (if set)
      s.checkpoint.clear();
    }
    return run_compare_cnn(s);
  }
  LmCompareSettings s = compare_lm_settings(r);
  std::string& checkpoint = s.experiment.checkpoint;
  if (exists(checkpoint)) {
    check_checkpoint_matches(r, checkpoint);
    std::printf("FP32 model from %s (checkpoint.path; delete it to train again)\n",
                checkpoint.c_str());
  } else {
    LmTrainRun run = lm_train_run(r);
    if (run.save.empty()) {
      std::filesystem::create_directories(s.common.out_dir);
      run.save = s.common.out_dir + "/fp32.ckpt";
    }
    std::printf("FP32 pre-training first, into %s\n", run.save.c_str());
    train_lm_run(run, "");
    checkpoint = run.save;
  }
  return run_compare_lm(s);
}

}  // namespace octet::tools
