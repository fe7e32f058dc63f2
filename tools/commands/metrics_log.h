#pragma once
// Metrics of a run as JSON Lines: one object per line appended to <run_dir>/metrics.jsonl,
// {"step": 12, "time_s": 3.4, "loss": 0.51, "lr": 0.001, "phase": "qat w8a8"}. Each line is
// flushed as it is written, so a crashed or still-running job leaves a readable file; numbers are
// written in their shortest form that reads back to the same double, NaN and infinities as null.
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace octet::tools {

// One JSON scalar: a number (integer or double), a string or a boolean.
class JsonValue {
 public:
  enum class Kind { integer, number, string, boolean };

  JsonValue(double v) : kind_(Kind::number), number_(v) {}
  JsonValue(float v) : kind_(Kind::number), number_(v) {}
  template <std::integral T>
  requires(!std::same_as<T, bool>) JsonValue(T v)
      : kind_(Kind::integer), integer_(static_cast<int64_t>(v)) {}
  JsonValue(bool v) : kind_(Kind::boolean), boolean_(v) {}
  JsonValue(std::string v) : kind_(Kind::string), string_(std::move(v)) {}
  JsonValue(const char* v) : kind_(Kind::string), string_(v) {}

  // The JSON text of the value.
  std::string json() const;

 private:
  Kind kind_;
  int64_t integer_ = 0;
  double number_ = 0;
  bool boolean_ = false;
  std::string string_;
};

struct JsonField {
  std::string key;
  JsonValue value;
};
using JsonFields = std::vector<JsonField>;

// A JSON string literal, quotes included, with '"', '\\' and control characters escaped.
std::string json_string(const std::string& text);
// The shortest decimal that reads back to `v` ("0.1", "3", "1e-07"); "null" for NaN and +-inf,
// which JSON cannot express.
std::string json_number(double v);
// {"key": value, ...} on one line, without the newline.
std::string json_object(const JsonFields& fields);

class MetricsLog {
 public:
  // Creates `run_dir` (and its parents) and opens <run_dir>/<file_name> for appending, so a
  // resumed run continues the same file. `now` gives seconds for "time_s" (default: a steady
  // clock), measured from construction. Throws octet::Error ("metrics_log") naming the path.
  explicit MetricsLog(const std::string& run_dir, std::function<double()> now = {},
                      const std::string& file_name = "metrics.jsonl");
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // {"step": step, "time_s": seconds since construction, <fields>...}. The fields may not use
  // the keys "step" and "time_s".
  void log(int64_t step, const JsonFields& fields);
  // Exactly `fields`: for records that are not a training step (a final evaluation, the config).
  void write(const JsonFields& fields);

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::function<double()> now_;
  double start_;
  std::FILE* file_ = nullptr;
};

}  // namespace octet::tools
