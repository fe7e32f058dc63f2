#pragma once
// A progress bar for training loops. On a terminal it redraws one line in place (bar, step/total,
// percent, ETA, throughput, metrics); in a log (not a TTY, or CI=true) it prints plain lines only
// every few steps or seconds, plus the first and the last, so CI logs stay short. The clock is
// injectable and the formatting is free functions, so all of it is testable without a terminal.
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace octet::tools {

// Seconds on some monotonic clock; only differences matter.
using Clock = std::function<double()>;
double steady_seconds();

// Named values shown after the throughput, in this order: {{"loss", 0.51}, {"lr", 1e-3}}.
using Metrics = std::vector<std::pair<std::string, double>>;

// "7s", "1m05s", "2h03m"; "--" for a negative or non-finite duration (no estimate yet).
std::string format_eta(double seconds);
// A throughput with a k/M suffix and three significant digits: "950", "12.3k", "1.20M".
std::string format_rate(double per_second);

// Everything one line shows.
struct ProgressLine {
  std::string label;
  int64_t step = 0;  // steps completed
  int64_t total = 0;
  double eta_s = -1;  // < 0: unknown
  double rate = 0;    // items per second, smoothed; <= 0: unknown
  std::string unit;   // "samples/s", "tokens/s"
  Metrics metrics;
};

// "train [#####-----]  120/500  24%  ETA 1m05s  1.23k samples/s  loss 0.5123  lr 0.001"; a
// bar_width of 0 leaves the bar out (the plain lines of a log).
std::string render_line(const ProgressLine& line, int bar_width);

struct ProgressOptions {
  enum class Mode { automatic, interactive, plain };
  // automatic: interactive when stderr is a TTY and the environment's CI is not "true".
  Mode mode = Mode::automatic;
  bool enabled = true;          // false: print nothing (ranks other than 0)
  int64_t every_steps = 0;      // plain lines at least this many steps apart; 0: total / 10
  double every_seconds = 10;    // ... or this long after the previous one
  double redraw_seconds = 0.1;  // interactive redraws at most this often
  Clock now = {};               // empty: steady_seconds
  // >= 0: the run began at this reading of `now`, before the bar was made (a bar made at the
  // first step, once the total is known, would otherwise time that step as taking no time).
  double started = -1;
  std::ostream* out = nullptr;  // null: std::cerr
};

class ProgressBar {
 public:
  // `unit` names the throughput: "samples/s" or "tokens/s".
  ProgressBar(std::string label, int64_t total_steps, std::string unit,
              ProgressOptions options = {});
  // `step` steps are done (1..total), the last of them processed `items` samples or tokens.
  void update(int64_t step, double items, const Metrics& metrics = {});
  // The last line with the total time and average throughput; idempotent.
  void finish();

  bool interactive() const { return interactive_; }
  // The smoothed figures the line shows (for tests and for callers that log them).
  double rate() const;
  double eta_seconds() const;

 private:
  ProgressLine current() const;
  void emit(const std::string& text, bool final_line);

  std::string label_, unit_;
  int64_t total_;
  ProgressOptions options_;
  bool interactive_ = false;
  double start_, last_time_;
  double step_time_ema_ = -1, items_ema_ = 0;  // smoothed seconds per step and items per step
  double items_total_ = 0;
  int64_t step_ = 0, steps_seen_ = 0;
  Metrics metrics_;
  int64_t printed_step_ = -1;
  double printed_time_ = 0;
  bool finished_ = false;
};

}  // namespace octet::tools
