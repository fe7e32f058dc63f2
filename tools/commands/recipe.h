#pragma once
// Recipes (proto/recipe.proto) in protobuf text format: parsing with file:line:col errors,
// `--set key.path=value` overrides through reflection, and validation that names the field and
// where it was set. The option structs a recipe becomes are in recipe_mapping.h.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proto/recipe.pb.h"
#include "tools/commands/usage_error.h"

namespace octet::tools {

// A parsed, overridden and validated recipe, and where each of its fields came from.
class LoadedRecipe {
 public:
  LoadedRecipe(proto::Recipe recipe, std::string source);

  const proto::Recipe& proto() const { return recipe_; }
  const std::string& source() const { return source_; }  // the file (or the test's name for it)
  // "cnn", "gpt" or "llama"; validation guarantees one of them.
  std::string model_kind() const;
  bool is_cnn() const { return recipe_.model().has_cnn(); }

  // Where a field (dotted path, "model.cnn.hidden", "quantization.ptq_schemes[1]") was set:
  // "--set key=value" for an override, "file:line:col" (1-based) for the file, else the file.
  std::string where(std::string_view field) const;
  // Throws UsageError "<where>: <field>: <reason>".
  [[noreturn]] void fail(std::string_view field, const std::string& reason) const;

  // Used while loading: the parser's record of where each field's value starts.
  struct Locations;
  void set_locations(std::shared_ptr<const Locations> locations) { locations_ = locations; }
  void add_override(const std::string& key, const std::string& assignment);

 private:
  proto::Recipe recipe_;
  std::string source_;
  std::shared_ptr<const Locations> locations_;
  std::vector<std::pair<std::string, std::string>> overrides_;  // key, "key=value"
};

// Reads, parses, overrides and validates. Throws UsageError: "file:line:col: reason" for a
// malformed recipe or an unknown field, "--set key=value: reason" for a bad override, and
// "file:line:col: field: reason" (or the --set) for a value validation rejects.
LoadedRecipe load_recipe(const std::string& path, const std::vector<std::string>& overrides = {});
// The same from text; `source` names it in messages.
LoadedRecipe parse_recipe(const std::string& text, const std::string& source,
                          const std::vector<std::string>& overrides = {});

// Applies one "key.path=value" to `recipe` through reflection: scalars and enums (by name, any
// case) are set; a repeated field is replaced by the comma-separated list (empty: cleared).
// Returns the key. Throws UsageError naming the key: unknown field (listing the known ones), a
// message rather than a scalar, a value that does not parse or fit, a oneof member other than
// the one the recipe chose.
std::string apply_override(proto::Recipe& recipe, const std::string& assignment);

// Sizes, ranges, scheme names, fields that do not apply to the recipe's model (e.g. epochs for a
// language model). Throws UsageError through recipe.fail.
void validate_recipe(const LoadedRecipe& recipe);

}  // namespace octet::tools
