// The progress bar's formatting (ETA, throughput, the line itself), its smoothing and its
// plain-mode throttling under a fake clock, and the JSONL metrics log read back line by line: exact
// numbers, null for NaN/inf, escaped strings, appending, and the errors it raises.
#include "tools/commands/progress.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "ops/error.h"
#include "tools/commands/metrics_log.h"

namespace octet::tools {
namespace {

namespace fs = std::filesystem;

TEST(FormatEta, SecondsMinutesHours) {
  EXPECT_EQ(format_eta(0), "0s");
  EXPECT_EQ(format_eta(7.4), "7s");
  EXPECT_EQ(format_eta(59.6), "1m00s");
  EXPECT_EQ(format_eta(65), "1m05s");
  EXPECT_EQ(format_eta(3599.6), "1h00m");
  EXPECT_EQ(format_eta(2 * 3600 + 3 * 60 + 59), "2h03m");
  EXPECT_EQ(format_eta(-1), "--");
  EXPECT_EQ(format_eta(std::nan("")), "--");
  EXPECT_EQ(format_eta(std::numeric_limits<double>::infinity()), "--");
}

TEST(FormatRate, ThreeDigitsWithSuffix) {
  EXPECT_EQ(format_rate(950), "950");
  EXPECT_EQ(format_rate(12.5), "12.5");
  EXPECT_EQ(format_rate(12345), "12.3k");
  EXPECT_EQ(format_rate(999.7), "1k");
  EXPECT_EQ(format_rate(1.2e6), "1.2M");
  EXPECT_EQ(format_rate(0), "--");
  EXPECT_EQ(format_rate(std::nan("")), "--");
}

TEST(RenderLine, BarCountsEtaRateAndMetricsInOrder) {
  const ProgressLine line{
      "train", 120, 500, 65, 1234, "samples/s", {{"loss", 0.51234}, {"lr", 1e-3}}};
  EXPECT_EQ(render_line(line, 10),
            "train [##--------]  120/500   24%  ETA 1m05s  1.23k samples/s  loss 0.5123  lr 0.001");
  EXPECT_EQ(render_line(line, 0),
            "train  120/500   24%  ETA 1m05s  1.23k samples/s  loss 0.5123  lr 0.001");
}

TEST(RenderLine, UnknownRateAndFullBar) {
  EXPECT_EQ(render_line({"qat", 3, 40, -1, 0, "tokens/s", {}}, 4),
            "qat [----]   3/40    7%  ETA --");
  EXPECT_EQ(render_line({"qat", 40, 40, 0, 2e3, "tokens/s", {}}, 4),
            "qat [####]  40/40  100%  ETA 0s  2k tokens/s");
}

// A clock the test advances by hand.
struct FakeClock {
  double t = 0;
  Clock clock() {
    return [this] { return t; };
  }
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The step number of a plain line "label  12/100 ...".
int64_t step_of(const std::string& line) {
  const size_t slash = line.find('/');
  size_t begin = line.rfind(' ', slash) + 1;
  return std::stoll(line.substr(begin, slash - begin));
}

TEST(ProgressBar, PlainLinesEveryTenthOfTheRunPlusFirstAndLast) {
  FakeClock clock;
  std::ostringstream out;
  ProgressBar bar("train", 100, "samples/s",
                  {.mode = ProgressOptions::Mode::plain, .now = clock.clock(), .out = &out});
  EXPECT_FALSE(bar.interactive());
  for (int64_t step = 1; step <= 100; ++step) {
    clock.t += 0.1;
    bar.update(step, 32, {{"loss", 1.0 / step}});
  }
  std::vector<int64_t> printed;
  for (const std::string& line : lines_of(out.str())) printed.push_back(step_of(line));
  EXPECT_EQ(printed, (std::vector<int64_t>{1, 11, 21, 31, 41, 51, 61, 71, 81, 91, 100}));
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
}

TEST(ProgressBar, PlainLinesAlsoEveryTenSecondsOfSlowSteps) {
  FakeClock clock;
  std::ostringstream out;
  ProgressBar bar("train", 12, "tokens/s",
                  {.mode = ProgressOptions::Mode::plain,
                   .every_steps = 1000,
                   .now = clock.clock(),
                   .out = &out});
  for (int64_t step = 1; step <= 12; ++step) {
    clock.t += 4;  // a line at t = 4, then the first step 10 s later each time, then the last
    bar.update(step, 512);
  }
  std::vector<int64_t> printed;
  for (const std::string& line : lines_of(out.str())) printed.push_back(step_of(line));
  EXPECT_EQ(printed, (std::vector<int64_t>{1, 4, 7, 10, 12}));
}

TEST(ProgressBar, SmoothedRateAndEtaFollowTheSteps) {
  FakeClock clock;
  std::ostringstream out;
  ProgressBar bar("train", 100, "samples/s", {.now = clock.clock(), .out = &out});
  EXPECT_LT(bar.eta_seconds(), 0);  // nothing measured yet
  for (int64_t step = 1; step <= 10; ++step) {
    clock.t += 0.5;
    bar.update(step, 64);
  }
  EXPECT_DOUBLE_EQ(bar.rate(), 128);
  EXPECT_DOUBLE_EQ(bar.eta_seconds(), 90 * 0.5);
  // Four times faster: the estimate moves most of the way within a handful of steps.
  for (int64_t step = 11; step <= 20; ++step) {
    clock.t += 0.125;
    bar.update(step, 64);
  }
  EXPECT_NEAR(bar.rate(), 512, 512 * 0.1);
  EXPECT_NEAR(bar.eta_seconds(), 80 * 0.125, 80 * 0.125 * 0.1);
}

TEST(ProgressBar, SkippedStepsShareTheElapsedTime) {
  FakeClock clock;
  std::ostringstream out;
  ProgressBar bar("train", 100, "samples/s", {.now = clock.clock(), .out = &out});
  clock.t = 5;
  bar.update(10, 20);  // ten steps in 5 s, 20 samples each
  EXPECT_DOUBLE_EQ(bar.eta_seconds(), 90 * 0.5);
  EXPECT_DOUBLE_EQ(bar.rate(), 40);
}

TEST(ProgressBar, FinishPrintsTotalTimeAverageThroughputAndLastMetrics) {
  FakeClock clock;
  std::ostringstream out;
  ProgressBar bar("qat w8a8", 4, "samples/s",
                  {.mode = ProgressOptions::Mode::plain, .now = clock.clock(), .out = &out});
  for (int64_t step = 1; step <= 4; ++step) {
    clock.t += 16;
    bar.update(step, 100, {{"loss", 0.25 * step}});
  }
  bar.finish();
  bar.finish();  // idempotent
  const std::vector<std::string> lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 5u);  // a run of 4 steps prints every step, then the summary
  EXPECT_EQ(lines.back(), "qat w8a8 done: 4/4 steps in 1m04s, 6.25 samples/s, loss 1");
}

TEST(ProgressBar, InteractiveRedrawsOneLineAndEndsWithNewline) {
  FakeClock clock;
  std::ostringstream out;
  ProgressBar bar("train", 3, "tokens/s",
                  {.mode = ProgressOptions::Mode::interactive, .now = clock.clock(), .out = &out});
  EXPECT_TRUE(bar.interactive());
  for (int64_t step = 1; step <= 3; ++step) {
    clock.t += 1;
    bar.update(step, 1000, {{"loss", 2.0}});
  }
  EXPECT_EQ(out.str().find('\n'), std::string::npos);
  EXPECT_NE(
      out.str().find("\r" + render_line({"train", 3, 3, 0, 1000, "tokens/s", {{"loss", 2.0}}}, 30)),
      std::string::npos);
  bar.finish();
  const std::string text = out.str();
  EXPECT_EQ(text.back(), '\n');
  EXPECT_NE(text.find("\rtrain done: 3/3 steps in 3s, 1k tokens/s, loss 2"), std::string::npos);
}

TEST(ProgressBar, InteractiveRedrawsAreThrottled) {
  FakeClock clock;
  std::ostringstream out;
  ProgressBar bar("train", 1000, "tokens/s",
                  {.mode = ProgressOptions::Mode::interactive, .now = clock.clock(), .out = &out});
  for (int64_t step = 1; step <= 1000; ++step) {
    clock.t += 0.001;  // 1 s in all: the first, every 0.1 s, and the last
    bar.update(step, 1);
  }
  const std::string text = out.str();
  const auto redraws = std::count(text.begin(), text.end(), '\r');
  EXPECT_GE(redraws, 10);
  EXPECT_LE(redraws, 12);
}

TEST(ProgressBar, DisabledPrintsNothing) {
  FakeClock clock;
  std::ostringstream out;
  ProgressBar bar("train", 2, "samples/s", {.enabled = false, .now = clock.clock(), .out = &out});
  bar.update(1, 1);
  bar.update(2, 1);
  bar.finish();
  EXPECT_TRUE(out.str().empty());
}

TEST(ProgressBar, AutomaticModeIsPlainUnderCiAndForOtherStreams) {
  std::ostringstream out;
  EXPECT_FALSE(ProgressBar("t", 1, "samples/s", {.out = &out}).interactive());
  const char* old = std::getenv("CI");
  const std::string saved = old ? old : "";
  setenv("CI", "true", 1);
  EXPECT_FALSE(ProgressBar("t", 1, "samples/s").interactive());
  if (old)
    setenv("CI", saved.c_str(), 1);
  else
    unsetenv("CI");
}

// ---- metrics log ---------------------------------------------------------------------------

// A flat JSON object {"key": value, ...} as key -> raw value text, strings decoded. Enough for
// what MetricsLog writes; fails the test on anything else.
std::map<std::string, std::string> parse_flat_object(const std::string& line) {
  std::map<std::string, std::string> fields;
  size_t i = 0;
  auto expect = [&](char c) {
    if (i >= line.size() || line[i] != c) {
      ADD_FAILURE() << "expected '" << c << "' at " << i << " in " << line;
      throw std::runtime_error("bad json");
    }
    ++i;
  };
  auto read_string = [&] {
    expect('"');
    std::string s;
    while (i < line.size() && line[i] != '"') {
      if (line[i] != '\\') {
        s += line[i++];
        continue;
      }
      const char e = line[++i];
      ++i;
      if (e == 'u') {
        s += static_cast<char>(std::stoi(line.substr(i, 4), nullptr, 16));
        i += 4;
      } else {
        const std::map<char, char> simple{{'n', '\n'}, {'t', '\t'}, {'r', '\r'},  {'b', '\b'},
                                          {'f', '\f'}, {'"', '"'},  {'\\', '\\'}, {'/', '/'}};
        s += simple.at(e);
      }
    }
    expect('"');
    return s;
  };
  expect('{');
  while (i < line.size() && line[i] != '}') {
    if (!fields.empty()) {
      expect(',');
      expect(' ');
    }
    const std::string key = read_string();
    expect(':');
    expect(' ');
    if (line[i] == '"') {
      fields[key] = read_string();
    } else {
      const size_t end = line.find_first_of(",}", i);
      fields[key] = line.substr(i, end - i);
      i = end;
    }
  }
  expect('}');
  EXPECT_EQ(i, line.size()) << line;
  return fields;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// This process's scratch directory, removed when the tests end.
fs::path scratch_root() {
  return fs::path(::testing::TempDir()) / ("progress_test_" + std::to_string(getpid()));
}

class RemoveScratch : public ::testing::Environment {
 public:
  void TearDown() override { fs::remove_all(scratch_root()); }
};
const auto* const kRemoveScratch = ::testing::AddGlobalTestEnvironment(new RemoveScratch);

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = scratch_root() / name;
  fs::remove_all(dir);
  return dir;
}

TEST(JsonNumber, ShortestFormThatReadsBackExactly) {
  EXPECT_EQ(json_number(0.1), "0.1");
  EXPECT_EQ(json_number(3), "3");
  EXPECT_EQ(json_number(std::nan("")), "null");
  EXPECT_EQ(json_number(-std::numeric_limits<double>::infinity()), "null");
  for (double v : {0.1, 1.0 / 3, 1e-300, 5e-324, 1.7976931348623157e308, -2.5e-7,
                   123456789012345678.0, 0.51}) {
    const std::string text = json_number(v);
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), v) << text;
  }
}

TEST(JsonString, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(json_string("qat \"w8a8\"\n\\\t\x01 \xc3\xa9"),
            "\"qat \\\"w8a8\\\"\\n\\\\\\t\\u0001 \xc3\xa9\"");
}

TEST(MetricsLog, OneObjectPerLineWithExactNumbers) {
  const fs::path dir = fresh_dir("run") / "nested";
  FakeClock clock{0.5};
  {
    MetricsLog log(dir.string(), clock.clock());
    EXPECT_EQ(log.path(), (dir / "metrics.jsonl").string());
    clock.t = 3.75;
    log.log(12, {{"loss", 0.51},
                 {"lr", 1.0 / 3},
                 {"phase", "qat \"w8a8\"\n"},
                 {"nan", std::nan("")},
                 {"inf", std::numeric_limits<double>::infinity()},
                 {"ok", true}});
    // Visible before the log is closed: every line is flushed.
    ASSERT_EQ(read_lines(log.path()).size(), 1u);
    log.write({{"final_accuracy", 0.8765}, {"count", size_t{3}}});
  }
  const std::vector<std::string> lines = read_lines((dir / "metrics.jsonl").string());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].rfind("{\"step\": 12, \"time_s\": 3.25, ", 0), 0u) << lines[0];
  const auto first = parse_flat_object(lines[0]);
  EXPECT_EQ(first.at("step"), "12");
  EXPECT_EQ(std::strtod(first.at("time_s").c_str(), nullptr), 3.25);
  EXPECT_EQ(first.at("loss"), "0.51");
  EXPECT_EQ(std::strtod(first.at("lr").c_str(), nullptr), 1.0 / 3);
  EXPECT_EQ(first.at("phase"), "qat \"w8a8\"\n");
  EXPECT_EQ(first.at("nan"), "null");
  EXPECT_EQ(first.at("inf"), "null");
  EXPECT_EQ(first.at("ok"), "true");
  const auto second = parse_flat_object(lines[1]);
  EXPECT_EQ(second.size(), 2u);
  EXPECT_EQ(second.at("final_accuracy"), "0.8765");
  EXPECT_EQ(second.at("count"), "3");
}

TEST(MetricsLog, AppendsAcrossRuns) {
  const fs::path dir = fresh_dir("resume");
  {
    MetricsLog log(dir.string());
    log.log(1, {{"loss", 2.0}});
  }
  {
    MetricsLog log(dir.string());
    log.log(2, {{"loss", 1.5}});
  }
  const std::vector<std::string> lines = read_lines((dir / "metrics.jsonl").string());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(parse_flat_object(lines[0]).at("step"), "1");
  EXPECT_EQ(parse_flat_object(lines[1]).at("loss"), "1.5");
}

TEST(MetricsLog, RejectsReservedKeysAndUncreatableDirectories) {
  const fs::path dir = fresh_dir("errors");
  MetricsLog log(dir.string());
  EXPECT_THROW(log.log(1, {{"step", 2}}), Error);
  EXPECT_THROW(log.log(1, {{"time_s", 2.0}}), Error);
  // A run directory below a regular file cannot be created.
  std::ofstream(dir / "file") << "x";
  try {
    MetricsLog bad((dir / "file" / "run").string());
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("file/run"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace octet::tools
