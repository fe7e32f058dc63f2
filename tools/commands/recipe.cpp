#include "tools/commands/recipe.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

namespace octet::tools {

namespace pb = google::protobuf;

struct LoadedRecipe::Locations {
  pb::TextFormat::ParseInfoTree tree;
};

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string::size_type begin = 0;
  while (true) {
    const auto end = s.find(sep, begin);
    parts.push_back(s.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) return parts;
    begin = end + 1;
  }
}

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string field_names(const pb::Descriptor* d) {
  std::string names;
  for (int i = 0; i < d->field_count(); ++i)
    names += (names.empty() ? "" : ", ") + d->field(i)->name();
  return names;
}

std::string enum_names(const pb::EnumDescriptor* e) {
  std::string names;
  for (int i = 0; i < e->value_count(); ++i)
    names += (names.empty() ? "" : ", ") + lower(e->value(i)->name());
  return names;
}

// Collects the parser's errors as "source:line:col: message", 1-based like a compiler's.
class Collector : public pb::io::ErrorCollector {
 public:
  Collector(std::string source, const std::string& text)
      : source_(std::move(source)), lines_(split(text, '\n')) {}
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    column = name_column(line, column, message);
    errors_ += (errors_.empty() ? "" : "\n") + source_ + ":" + std::to_string(line + 1) + ":" +
               std::to_string(column + 1) + ": " + message;
  }
  const std::string& errors() const { return errors_; }

 private:
  // The parser reports an unknown or repeated field at the token after its name; point at the
  // name itself (the last quoted word of the message) when it is on that line before `column`.
  int name_column(int line, int column, const std::string& message) const {
    if (message.find("has no field named") == std::string::npos &&
        message.find("is specified multiple times") == std::string::npos)
      return column;
    const auto close = message.rfind('"');
    const auto open = close == std::string::npos ? close : message.rfind('"', close - 1);
    if (open == std::string::npos || line < 0 || line >= static_cast<int>(lines_.size()))
      return column;
    const std::string name = message.substr(open + 1, close - open - 1);
    const std::string& text = lines_[static_cast<size_t>(line)];
    const auto at = text.rfind(name, static_cast<size_t>(std::max(column, 0)));
    return at == std::string::npos ? column : static_cast<int>(at);
  }

  std::string source_;
  std::vector<std::string> lines_;
  std::string errors_;
};

// One path segment, "name" or "name[3]".
struct Segment {
  std::string name;
  int index = -1;
};

std::vector<Segment> parse_path(std::string_view path) {
  std::vector<Segment> out;
  for (const std::string& part : split(std::string(path), '.')) {
    Segment s{part, -1};
    if (const auto open = part.find('['); open != std::string::npos && part.back() == ']') {
      s.name = part.substr(0, open);
      s.index = std::atoi(part.c_str() + open + 1);
    }
    out.push_back(s);
  }
  return out;
}

// The text of one value for `field` parsed into it (added when the field is repeated).
// `path` is the field's dotted name, for messages.
void set_value(pb::Message& msg, const pb::FieldDescriptor* field, const std::string& path,
               const std::string& text, const std::function<void(const std::string&)>& fail) {
  const pb::Reflection* r = msg.GetReflection();
  const bool add = field->is_repeated();
  const std::string quoted = "'" + text + "'";
  auto integer = [&](int64_t lo, int64_t hi) {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size())
      fail(quoted + " is not an integer (" + path + " is " + field->type_name() + ")");
    if (v < lo || v > hi)
      fail(quoted + " is out of range for " + path + " (" + field->type_name() + ")");
    return v;
  };
  switch (field->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32: {
      const auto v = static_cast<int32_t>(
          integer(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
      add ? r->AddInt32(&msg, field, v) : r->SetInt32(&msg, field, v);
      return;
    }
    case pb::FieldDescriptor::CPPTYPE_INT64: {
      const int64_t v =
          integer(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
      add ? r->AddInt64(&msg, field, v) : r->SetInt64(&msg, field, v);
      return;
    }
    case pb::FieldDescriptor::CPPTYPE_UINT32:
    case pb::FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || end != text.data() + text.size())
        fail(quoted + " is not a non-negative integer (" + path + " is " + field->type_name() +
             ")");
      if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT32) {
        if (v > std::numeric_limits<uint32_t>::max())
          fail(quoted + " is out of range for " + path + " (uint32)");
        const auto v32 = static_cast<uint32_t>(v);
        add ? r->AddUInt32(&msg, field, v32) : r->SetUInt32(&msg, field, v32);
      } else {
        add ? r->AddUInt64(&msg, field, v) : r->SetUInt64(&msg, field, v);
      }
      return;
    }
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
    case pb::FieldDescriptor::CPPTYPE_FLOAT: {
      char* end = nullptr;
      errno = 0;
      const double v = text.empty() ? NAN : std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size() || errno != 0 || !std::isfinite(v))
        fail(quoted + " is not a finite number (" + path + " is " + field->type_name() + ")");
      if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_FLOAT)
        add ? r->AddFloat(&msg, field, static_cast<float>(v))
            : r->SetFloat(&msg, field, static_cast<float>(v));
      else
        add ? r->AddDouble(&msg, field, v) : r->SetDouble(&msg, field, v);
      return;
    }
    case pb::FieldDescriptor::CPPTYPE_BOOL: {
      const std::string t = lower(text);
      if (t != "true" && t != "false" && t != "1" && t != "0")
        fail(quoted + " is not a bool (true, false, 1 or 0)");
      const bool v = t == "true" || t == "1";
      add ? r->AddBool(&msg, field, v) : r->SetBool(&msg, field, v);
      return;
    }
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      std::string upper = text;
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      const pb::EnumValueDescriptor* v = field->enum_type()->FindValueByName(upper);
      if (v == nullptr)
        fail(quoted + " is not one of " + path + "'s values (" + enum_names(field->enum_type()) +
             ")");
      add ? r->AddEnum(&msg, field, v) : r->SetEnum(&msg, field, v);
      return;
    }
    case pb::FieldDescriptor::CPPTYPE_STRING:
      add ? r->AddString(&msg, field, text) : r->SetString(&msg, field, text);
      return;
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  fail(path + " is a message, not a scalar");
}

}  // namespace

// ---- LoadedRecipe ---------------------------------------------------------------------------

LoadedRecipe::LoadedRecipe(proto::Recipe recipe, std::string source)
    : recipe_(std::move(recipe)), source_(std::move(source)) {}

std::string LoadedRecipe::model_kind() const {
  if (recipe_.model().has_cnn()) return "cnn";
  if (recipe_.model().has_gpt()) return "gpt";
  if (recipe_.model().has_llama()) return "llama";
  return "";
}

void LoadedRecipe::add_override(const std::string& key, const std::string& assignment) {
  overrides_.emplace_back(key, assignment);
}

std::string LoadedRecipe::where(std::string_view field) const {
  const std::vector<Segment> path = parse_path(field);
  std::string key;
  for (const Segment& s : path) key += (key.empty() ? "" : ".") + s.name;
  for (auto it = overrides_.rbegin(); it != overrides_.rend(); ++it)
    if (it->first == key) return "--set " + it->second;
  if (!locations_) return source_;
  // The deepest part of the path the file sets: the field itself, else its enclosing message.
  const pb::TextFormat::ParseInfoTree* tree = &locations_->tree;
  const pb::Descriptor* d = proto::Recipe::descriptor();
  pb::TextFormat::ParseLocation found{-1, -1};
  for (const Segment& s : path) {
    const pb::FieldDescriptor* f = d ? d->FindFieldByName(s.name) : nullptr;
    if (f == nullptr || tree == nullptr) break;
    // A list written as `name: [a, b]` is recorded once, at index 0: fall back to it.
    int index = f->is_repeated() ? std::max(s.index, 0) : -1;
    pb::TextFormat::ParseLocation at = tree->GetLocation(f, index);
    while (at.line < 0 && index > 0) at = tree->GetLocation(f, --index);
    if (at.line < 0) break;
    found = at;
    if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) break;
    tree = tree->GetTreeForNested(f, index);
    d = f->message_type();
  }
  if (found.line < 0) return source_;
  return source_ + ":" + std::to_string(found.line + 1) + ":" + std::to_string(found.column + 1);
}

void LoadedRecipe::fail(std::string_view field, const std::string& reason) const {
  throw UsageError("recipe", where(field) + ": " + std::string(field) + ": " + reason);
}

// ---- overrides --------------------------------------------------------------------------------

std::string apply_override(proto::Recipe& recipe, const std::string& assignment) {
  auto fail = [&](const std::string& why) {
    throw UsageError("recipe", "--set " + assignment + ": " + why);
  };
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    fail("expected key.path=value, e.g. --set quantization.finetune_steps=50");
  const std::string key = trim(assignment.substr(0, eq));
  const std::string value = assignment.substr(eq + 1);
  const std::vector<std::string> names = split(key, '.');

  pb::Message* msg = &recipe;
  std::string path;
  const pb::FieldDescriptor* field = nullptr;
  for (size_t i = 0; i < names.size(); ++i) {
    const pb::Descriptor* d = msg->GetDescriptor();
    const pb::Reflection* r = msg->GetReflection();
    const std::string where = path.empty() ? "the recipe" : path;
    if (names[i].empty()) fail("empty field name in '" + key + "'");
    field = d->FindFieldByName(names[i]);
    if (field == nullptr)
      fail("unknown field '" + names[i] + "' in " + where + " (known: " + field_names(d) + ")");
    path += (path.empty() ? "" : ".") + names[i];
    if (const pb::OneofDescriptor* oneof = field->containing_oneof()) {
      const pb::FieldDescriptor* chosen = r->GetOneofFieldDescriptor(*msg, oneof);
      if (chosen != nullptr && chosen != field)
        fail(path + " is one choice of " + where + "." + oneof->name() + ", and the recipe chose " +
             chosen->name() + "; switching it takes an edit of the recipe, not --set");
    }
    if (i + 1 == names.size()) break;
    if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE)
      fail(path + " is a scalar (" + std::string(field->type_name()) + "), it has no field '" +
           names[i + 1] + "'");
    if (field->is_repeated()) fail(path + " is a list of messages; --set cannot address one");
    msg = r->MutableMessage(msg, field);
  }
  if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE)
    fail(path + " is a message, not a scalar; set one of its fields (known: " +
         field_names(field->message_type()) + ")");
  if (field->is_repeated()) {
    msg->GetReflection()->ClearField(msg, field);
    if (!trim(value).empty())
      for (const std::string& item : split(value, ','))
        set_value(*msg, field, path, trim(item), fail);
  } else {
    set_value(*msg, field, path, trim(value), fail);
  }
  return key;
}

// ---- loading ----------------------------------------------------------------------------------

LoadedRecipe parse_recipe(const std::string& text, const std::string& source,
                          const std::vector<std::string>& overrides) {
  proto::Recipe recipe;
  auto locations = std::make_shared<LoadedRecipe::Locations>();
  Collector errors(source, text);
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&locations->tree);
  if (!parser.ParseFromString(text, &recipe)) {
    throw UsageError("recipe",
                     errors.errors().empty() ? source + ": not a valid recipe" : errors.errors());
  }
  std::vector<std::pair<std::string, std::string>> applied;
  for (const std::string& assignment : overrides)
    applied.emplace_back(apply_override(recipe, assignment), assignment);
  LoadedRecipe loaded(std::move(recipe), source);
  loaded.set_locations(locations);
  for (const auto& [key, assignment] : applied) loaded.add_override(key, assignment);
  validate_recipe(loaded);
  return loaded;
}

LoadedRecipe load_recipe(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("recipe", path + ": cannot read the recipe: " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  return parse_recipe(text.str(), path, overrides);
}

}  // namespace octet::tools
