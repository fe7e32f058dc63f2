#include "tools/commands/metrics_log.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "ops/error.h"
#include "tools/commands/progress.h"

namespace octet::tools {

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          // The other control characters have no short escape; bytes >= 0x80 (UTF-8) pass as is.
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
          out += buffer;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  // std::to_chars without a precision writes the shortest form that parses back to exactly v;
  // its exponent form ("1e-07") is valid JSON.
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);
  OCTET_CHECK(result.ec == std::errc(), "metrics_log", "cannot format the number ", v);
  return std::string(buffer, result.ptr);
}

std::string JsonValue::json() const {
  switch (kind_) {
    case Kind::integer:
      return std::to_string(integer_);
    case Kind::number:
      return json_number(number_);
    case Kind::string:
      return json_string(string_);
    case Kind::boolean:
      return boolean_ ? "true" : "false";
  }
  return "null";
}

std::string json_object(const JsonFields& fields) {
  std::string out = "{";
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ", ";
    out += json_string(fields[i].key) + ": " + fields[i].value.json();
  }
  return out + "}";
}

MetricsLog::MetricsLog(const std::string& run_dir, std::function<double()> now,
                       const std::string& file_name)
    : now_(now ? std::move(now) : std::function<double()>(steady_seconds)) {
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  OCTET_CHECK(!ec, "metrics_log", "cannot create the run directory ", run_dir, ": ", ec.message());
  path_ = (std::filesystem::path(run_dir) / file_name).string();
  file_ = std::fopen(path_.c_str(), "a");
  OCTET_CHECK(file_ != nullptr, "metrics_log", "cannot open ", path_,
              " for appending: ", std::strerror(errno));
  start_ = now_();
}

MetricsLog::~MetricsLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void MetricsLog::log(int64_t step, const JsonFields& fields) {
  JsonFields all{{"step", step}, {"time_s", now_() - start_}};
  for (const JsonField& field : fields) {
    OCTET_CHECK(field.key != "step" && field.key != "time_s", "metrics_log", "the key \"",
                field.key, "\" is written by log() itself (", path_, ")");
    all.push_back(field);
  }
  write(all);
}

void MetricsLog::write(const JsonFields& fields) {
  const std::string line = json_object(fields) + "\n";
  // The whole line, then a flush: a tail -f or a crash sees every record as soon as it is logged.
  const bool ok =
      std::fwrite(line.data(), 1, line.size(), file_) == line.size() && std::fflush(file_) == 0;
  OCTET_CHECK(ok, "metrics_log", "cannot write to ", path_, ": ", std::strerror(errno));
}

}  // namespace octet::tools
