#pragma once
// `--recipe R [--set key.path=value]...` on a command, and what `octet train` and `octet
// compare` do with a recipe (the option structs come from recipe_mapping.h).
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "tools/commands/recipe.h"
#include "tools/commands/train_target.h"

namespace octet::tools {

struct RecipeArgs {
  std::string path;
  std::vector<std::string> sets;  // "key.path=value", applied in order
};

// Adds --recipe and --set (repeatable) to `cmd`.
void add_recipe_options(CLI::App* cmd, RecipeArgs& args);

// For a command run either from a recipe or by one of its subcommands with flags: throws
// UsageError for both, for neither, and for --set without --recipe.
void require_recipe_or_subcommand(const CLI::App& cmd, const RecipeArgs& args);

// `octet train --recipe`: training of the recipe's model on `target`'s device and precision
// (the CPU in FP32 by default); writes checkpoint.path if set. `resume`: a language model's
// checkpoint to continue from (empty: start fresh).
int run_train_recipe(const LoadedRecipe& recipe, const std::string& resume,
                     const TrainTarget& target = {});

// `octet compare --recipe`: the recipe's FP32 model from checkpoint.path when that file exists
// (its architecture must be the recipe's), else trained first (a language model is written to
// checkpoint.path, or <out_dir>/fp32.ckpt when unset), then every PTQ and QAT scheme, exported
// and evaluated by the runtime.
int run_compare_recipe(const LoadedRecipe& recipe);

}  // namespace octet::tools
