#include "tools/commands/compare_report.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "ops/error.h"
#include "tools/commands/svg_chart.h"

namespace octet::tools {

bool runtime_agrees(const CompareReport& r, const CompareRow& row) {
  constexpr double kMaxAccuracyGap = 0.001;  // 0.1 point: 10 of the 10k test images
  constexpr double kMaxLossGap = 1e-3;       // relative
  const double gap = std::fabs(row.runtime - row.fake_quant);
  return r.accuracy ? gap <= kMaxAccuracyGap + 1e-12 : gap <= kMaxLossGap * row.fake_quant;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  // A value that rounds to zero prints as 0, never as "-0.00".
  const bool negative_zero = buf[0] == '-' && std::strspn(buf + 1, "0.") == std::strlen(buf + 1);
  return negative_zero ? std::string(buf + 1) : std::string(buf);
}

namespace {

double shown(const CompareReport& r, double v) { return r.accuracy ? 100.0 * v : v; }
// Accuracy in points; loss in % of the FP32 loss.
double delta(const CompareReport& r, const CompareRow& row) {
  const double base = r.rows[0].runtime;
  return r.accuracy ? 100.0 * (row.runtime - base) : 100.0 * (row.runtime - base) / base;
}
double speed_up(const CompareReport& r, const CompareRow& row) {
  return row.per_second / r.rows[0].per_second;
}
double size_percent(const CompareReport& r, const CompareRow& row) {
  return 100.0 * static_cast<double>(row.bytes) / static_cast<double>(r.rows[0].bytes);
}

std::string markdown(const CompareReport& r) {
  std::ostringstream os;
  const std::string metric = r.accuracy ? "test accuracy %" : "val loss nats/byte";
  os << "| method | scheme | " << metric << " (runtime) | fake-quant | agrees | "
     << (r.accuracy ? "" : "bits/byte | ") << "Δ vs FP32 " << (r.accuracy ? "(points)" : "(%)")
     << " | size KiB | % of FP32 | ms / batch of " << r.batch << " | " << r.per_second_unit
     << " | speed-up | prep s |\n|---|---|";
  for (int i = r.accuracy ? 10 : 11; i > 0; --i) os << "---:|";
  os << "\n";
  const int d = r.accuracy ? 2 : 4;
  for (const CompareRow& row : r.rows) {
    os << "| " << row.method << " | " << (row.scheme.empty() ? "-" : row.scheme);
    if (!row.detail.empty()) os << " (" << row.detail << ")";
    os << " | " << fixed(shown(r, row.runtime), d) << " | " << fixed(shown(r, row.fake_quant), d)
       << " | " << (runtime_agrees(r, row) ? "yes" : "**NO**") << " | ";
    if (!r.accuracy) os << fixed(row.runtime / std::log(2.0), 4) << " | ";
    os << (&row == &r.rows[0] ? "-" : fixed(delta(r, row), 2)) << " | "
       << fixed(static_cast<double>(row.bytes) / 1024.0, 1) << " | "
       << fixed(size_percent(r, row), 1) << " | " << fixed(row.ms_per_batch, 2) << " | "
       << fixed(row.per_second, 0) << " | " << fixed(speed_up(r, row), 2) << "x | "
       << fixed(row.prepare_seconds, 1) << " |\n";
  }
  os << "\n";
  for (const std::string& note : r.notes) os << "- " << note << "\n";
  if (r.prompt.empty()) return os.str();
  os << "\nGreedy continuations of \"" << r.prompt
     << "\" by the runtime, one per .qmodel (newlines shown as ⏎):\n\n```text\n";
  for (const CompareRow& row : r.rows) {
    std::string line = r.prompt + row.sample, shown_line;
    for (char c : line) shown_line += c == '\n' ? std::string("⏎") : std::string(1, c);
    char label[32];
    std::snprintf(label, sizeof label, "%-18s ", row.label().c_str());
    os << label << shown_line << "\n";
  }
  os << "```\n";
  return os.str();
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.8g", v);
  return buf;
}

std::string json(const CompareReport& r) {
  std::ostringstream os;
  os << "{\n  \"task\": " << json_string(r.task) << ",\n  \"metric\": "
     << json_string(r.accuracy ? "test_accuracy_percent" : "val_loss_nats_per_byte")
     << ",\n  \"delta_unit\": " << json_string(r.accuracy ? "points" : "percent_of_fp32")
     << ",\n  \"batch\": " << json_string(r.batch) << ",\n  \"rows\": [\n";
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const CompareRow& row = r.rows[i];
    os << "    {\"method\": " << json_string(row.method)
       << ", \"scheme\": " << json_string(row.scheme)
       << ", \"runtime\": " << json_number(shown(r, row.runtime))
       << ", \"fake_quant\": " << json_number(shown(r, row.fake_quant))
       << ", \"agrees\": " << (runtime_agrees(r, row) ? "true" : "false");
    if (!r.accuracy) os << ", \"bits_per_byte\": " << json_number(row.runtime / std::log(2.0));
    os << ", \"delta\": " << json_number(delta(r, row)) << ", \"file\": " << json_string(row.file)
       << ", \"bytes\": " << row.bytes
       << ", \"size_percent\": " << json_number(size_percent(r, row))
       << ", \"ms_per_batch\": " << json_number(row.ms_per_batch)
       << ", \"per_second\": " << json_number(row.per_second)
       << ", \"speed_up\": " << json_number(speed_up(r, row))
       << ", \"prepare_seconds\": " << json_number(row.prepare_seconds);
    if (!row.sample.empty()) os << ", \"sample\": " << json_string(row.sample);
    if (!row.detail.empty()) os << ", \"detail\": " << json_string(row.detail);
    os << "}" << (i + 1 < r.rows.size() ? "," : "") << "\n";
  }
  os << "  ],\n  \"notes\": [";
  for (size_t i = 0; i < r.notes.size(); ++i) os << (i ? ", " : "") << json_string(r.notes[i]);
  os << "]\n}\n";
  return os.str();
}

// Grouped bars per scheme, PTQ next to QAT; a scheme without a QAT row shows "n/a" there.
BarChart chart(const CompareReport& r) {
  auto panel = [&](std::string title, std::string y_label, auto value) {
    BarPanel p{std::move(title), std::move(y_label), r.categories, {}, 2, "", std::nullopt};
    for (const auto& [method, color] : {std::pair{"ptq", "#4e79a7"}, {"qat", "#f28e2b"}}) {
      BarSeries s{method == std::string("ptq") ? "PTQ" : "QAT", color, {}};
      for (const std::string& scheme : r.categories) {
        double v = NAN;
        for (const CompareRow& row : r.rows)
          if (row.method == method && row.scheme == scheme) v = value(row);
        s.values.push_back(v);
      }
      p.series.push_back(s);
    }
    return p;
  };
  BarChart c;
  c.title = r.title;
  c.panels.push_back(
      r.accuracy
          ? panel("Test accuracy change vs FP32 (runtime, higher is better)", "Δ accuracy (points)",
                  [&](const CompareRow& row) { return delta(r, row); })
          : panel("Validation loss change vs FP32 (runtime, lower is better)", "Δ loss (% of FP32)",
                  [&](const CompareRow& row) { return delta(r, row); }));
  c.panels.push_back(panel("Runtime speed-up vs the FP32 .qmodel (" + r.per_second_unit + ")",
                           "speed-up (x)",
                           [&](const CompareRow& row) { return speed_up(r, row); }));
  c.panels.back().reference = 1.0;
  c.panels.back().value_suffix = "x";
  c.panels.push_back(panel(".qmodel file size", "% of FP32 file",
                           [&](const CompareRow& row) { return size_percent(r, row); }));
  c.panels.back().decimals = 0;
  return c;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  OCTET_CHECK(out.good(), "compare", "cannot write ", path);
}

}  // namespace

void publish_comparison(const CompareReport& r, const std::string& dir) {
  const std::string table = markdown(r);
  write_text(dir + "/compare.md", "# octet compare " + r.task + "\n\n" + table);
  write_text(dir + "/compare.json", json(r));
  write_svg(chart(r), dir + "/compare.svg");
  std::cout << "\n" << table << "\nwritten: " << dir << "/compare.md, compare.json, compare.svg\n";
  std::ostringstream disagreeing;
  for (const CompareRow& row : r.rows)
    if (!runtime_agrees(r, row))
      disagreeing << " " << row.label() << " (runtime " << fixed(shown(r, row.runtime), 4)
                  << ", fake-quant " << fixed(shown(r, row.fake_quant), 4) << ")";
  OCTET_CHECK(disagreeing.str().empty(), "compare",
              "the runtime does not compute what the fake-quant model did:", disagreeing.str());
}

}  // namespace octet::tools
