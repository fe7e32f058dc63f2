// `octet compare` at toy sizes, through its command line: train (CNN on a few thousand images, a
// tiny GPT for a few dozen steps), PTQ and QAT, export every model, run each .qmodel on octet's
// runtime, and write the table (markdown + JSON) and the chart. The runtime's metric must equal
// the fake-quant model's (0.1 accuracy point, 1e-3 relative loss): the product's promise.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "ops/error.h"
#include "tools/commands/compare_commands.h"
#include "tools/commands/compare_report.h"
#include "tools/commands/svg_chart.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

// Runs `octet compare ...` in this process, as tools/octet_main.cpp would.
int run_compare(const std::vector<std::string>& args) {
  CLI::App app{"octet"};
  const std::function<int()> run = tools::add_compare_command(app);
  std::vector<const char*> argv{"octet", "compare"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  return run();
}

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct JsonRow {
  std::string method, scheme, file;
  double runtime = 0, fake_quant = 0, size_percent = 0, speed_up = 0;
  bool agrees = false, has_sample = false;
};

// compare.json writes one row per line; this reads back the fields the tests need.
std::vector<JsonRow> rows_of(const std::string& json) {
  auto field = [](const std::string& line, const std::string& name) {
    std::smatch m;
    const std::regex re("\"" + name + "\": (\"[^\"]*\"|[^,}]+)");
    if (!std::regex_search(line, m, re)) return std::string();
    std::string v = m[1];
    return v.front() == '"' ? v.substr(1, v.size() - 2) : v;
  };
  std::vector<JsonRow> rows;
  std::istringstream lines(json);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("{\"method\"") == std::string::npos) continue;
    JsonRow r;
    r.method = field(line, "method");
    r.scheme = field(line, "scheme");
    r.file = field(line, "file");
    r.runtime = std::stod(field(line, "runtime"));
    r.fake_quant = std::stod(field(line, "fake_quant"));
    r.size_percent = std::stod(field(line, "size_percent"));
    r.speed_up = std::stod(field(line, "speed_up"));
    r.agrees = field(line, "agrees") == "true";
    r.has_sample = !field(line, "sample").empty();
    rows.push_back(r);
  }
  return rows;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("compare_cli_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  return dir;
}

std::vector<std::string> labels(const std::vector<JsonRow>& rows) {
  std::vector<std::string> out;
  for (const JsonRow& r : rows) out.push_back(r.method + (r.scheme.empty() ? "" : " " + r.scheme));
  return out;
}

void expect_chart_names(const fs::path& dir, const std::vector<std::string>& schemes) {
  const std::string svg = read(dir / "compare.svg");
  ASSERT_EQ(svg.rfind("<svg", 0), 0u) << "not an SVG document";
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  for (const std::string& s : schemes) EXPECT_NE(svg.find(">" + s + "<"), std::string::npos) << s;
  for (const char* legend : {">PTQ<", ">QAT<", "speed-up", "Δ"})
    EXPECT_NE(svg.find(legend), std::string::npos) << legend;
}

TEST(CompareCli, CnnEveryExportedModelRunsAsItsFakeQuantModel) {
  const fs::path dir = fresh_dir("cnn");
  ASSERT_EQ(run_compare({"cnn", "--epochs", "1", "--train-limit", "4000", "--schemes", "w8a8,w4a4",
                         "--qat-schemes", "w8a8", "--qat-steps", "10", "--calibration-batches", "2",
                         "--out-dir", dir.string()}),
            0);
  const std::vector<JsonRow> rows = rows_of(read(dir / "compare.json"));
  EXPECT_EQ(labels(rows), (std::vector<std::string>{"fp32", "fp32_finetune", "ptq w8a8", "qat w8a8",
                                                    "ptq w4a4"}));
  for (const JsonRow& r : rows) {
    // Percent: the runtime and the fake-quant model differ by at most 10 of the 10k images.
    EXPECT_NEAR(r.runtime, r.fake_quant, 0.1) << r.method << " " << r.scheme;
    EXPECT_TRUE(r.agrees);
    EXPECT_TRUE(fs::exists(r.file)) << r.file;
    EXPECT_GT(r.speed_up, 0.0);
  }
  EXPECT_GT(rows[0].runtime, 50.0) << "the FP32 CNN did not learn";
  EXPECT_LT(rows[2].size_percent, 30.0) << "an int8 CNN file should be about a quarter of f32";
  const std::string md = read(dir / "compare.md");
  for (const char* s : {"| ptq | w8a8 |", "| qat | w8a8 |", "| ptq | w4a4 |", "skipped"})
    EXPECT_NE(md.find(s), std::string::npos) << s;
  expect_chart_names(dir, {"w8a8", "w4a4"});
  fs::remove_all(dir);
}

TEST(CompareCli, TinyGptEveryExportedModelRunsAsItsFakeQuantModel) {
  const fs::path dir = fresh_dir("lm");
  ASSERT_EQ(run_compare({"lm",
                         "--dim",
                         "64",
                         "--layers",
                         "2",
                         "--heads",
                         "4",
                         "--block",
                         "32",
                         "--batch",
                         "8",
                         "--train-steps",
                         "200",
                         "--qat-steps",
                         "10",
                         "--schemes",
                         "w8a8,llm_int8",
                         "--qat-schemes",
                         "fp8_e4m3",
                         "--calibration-batches",
                         "2",
                         "--eval-windows",
                         "16",
                         "--tokens",
                         "24",
                         "--out-dir",
                         dir.string()}),
            0);
  const std::vector<JsonRow> rows = rows_of(read(dir / "compare.json"));
  EXPECT_EQ(labels(rows), (std::vector<std::string>{"fp32", "fp32_finetune", "ptq w8a8",
                                                    "qat fp8_e4m3", "ptq llm_int8"}));
  for (const JsonRow& r : rows) {
    EXPECT_NEAR(r.runtime, r.fake_quant, 1e-3 * r.fake_quant) << r.method << " " << r.scheme;
    EXPECT_TRUE(r.agrees);
    EXPECT_TRUE(r.has_sample) << r.method << " " << r.scheme << " has no greedy continuation";
    EXPECT_TRUE(fs::exists(r.file)) << r.file;
  }
  // A trained byte model beats the uniform ln 256 = 5.55 nats/byte by far.
  EXPECT_LT(rows[0].runtime, 3.5);
  const std::string md = read(dir / "compare.md");
  EXPECT_NE(md.find("Greedy continuations of \"And God said\""), std::string::npos);
  EXPECT_NE(md.find("ptq llm_int8       And God said"), std::string::npos) << md;
  expect_chart_names(dir, {"w8a8", "fp8_e4m3", "llm_int8"});
  fs::remove_all(dir);
}

void expect_rejected_fast(const std::vector<std::string>& args, const std::string& bad) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    run_compare(args);
    FAIL() << "'" << bad << "' was accepted";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'" + bad + "'"), std::string::npos) << what;
    EXPECT_NE(what.find("known"), std::string::npos) << what;
  }
  // Before any training (which would take minutes at the default sizes).
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
}

TEST(CompareCli, UnknownSchemesFailBeforeTrainingNamingTheKnownOnes) {
  const fs::path dir = fresh_dir("bad");
  expect_rejected_fast({"cnn", "--schemes", "w8a8,w9a9", "--out-dir", dir.string()}, "w9a9");
  expect_rejected_fast({"cnn", "--qat-schemes", "int3", "--out-dir", dir.string()}, "int3");
  expect_rejected_fast({"lm", "--schemes", "smoothquant,bogus", "--out-dir", dir.string()},
                       "bogus");
  fs::remove_all(dir);
}

TEST(CompareReport, ARuntimeThatDisagreesFailsTheCommandAfterTheFilesAreWritten) {
  const fs::path dir = fresh_dir("report");
  fs::create_directories(dir);
  tools::CompareReport report;
  report.task = "cnn";
  report.categories = {"w8a8"};
  auto row = [](const std::string& method, const std::string& scheme, double runtime,
                double fake_quant) {
    tools::CompareRow r;
    r.method = method;
    r.scheme = scheme;
    r.runtime = runtime;
    r.fake_quant = fake_quant;
    r.bytes = 1000;
    r.ms_per_batch = 1;
    r.per_second = 100;
    return r;
  };
  report.rows = {row("fp32", "", 0.9, 0.9), row("ptq", "w8a8", 0.9009, 0.9),
                 row("qat", "w8a8", 0.8980, 0.9)};
  EXPECT_TRUE(tools::runtime_agrees(report, report.rows[1]));   // 9 images of 10k
  EXPECT_FALSE(tools::runtime_agrees(report, report.rows[2]));  // 20 images
  try {
    tools::publish_comparison(report, dir.string());
    FAIL() << "a runtime 0.2 points off its fake-quant model passed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("qat w8a8"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("ptq w8a8"), std::string::npos) << e.what();
  }
  EXPECT_NE(read(dir / "compare.md").find("**NO**"), std::string::npos);
  EXPECT_NE(read(dir / "compare.json").find("\"agrees\": false"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "compare.svg"));
  fs::remove_all(dir);
}

TEST(SvgChart, RejectsASeriesThatDoesNotMatchItsCategories) {
  tools::BarChart chart;
  tools::BarPanel panel;
  panel.title = "delta";
  panel.categories = {"w8a8", "w4a4"};
  panel.series = {{"PTQ", "#000", {1.0}}};
  chart.panels.push_back(panel);
  EXPECT_THROW(tools::render_svg(chart), Error);
  chart.panels[0].series[0].values = {-0.5, NAN};
  const std::string svg = tools::render_svg(chart);
  EXPECT_NE(svg.find("n/a"), std::string::npos) << "a missing value must be marked";
  EXPECT_NE(svg.find(">-0.5<"), std::string::npos) << svg;
}

}  // namespace
}  // namespace octet
