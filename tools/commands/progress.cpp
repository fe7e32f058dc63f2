#include "tools/commands/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "ops/error.h"

namespace octet::tools {
namespace {

// Weight of the newest step in the smoothed step time and items per step: heavy enough that the
// ETA follows a change of speed within a few steps, light enough that one slow step (a checkpoint,
// an evaluation) does not swing it.
constexpr double kSmoothing = 0.3;
constexpr int kBarWidth = 30;

template <typename... Args>
std::string printf_string(const char* format, Args... args) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, args...);
  return buffer;
}

bool stderr_is_interactive() {
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::strcmp(ci, "true") == 0) return false;
  return isatty(fileno(stderr)) != 0;
}

}  // namespace

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string format_eta(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--";
  const long long s = std::llround(seconds);
  if (s < 60) return printf_string("%llds", s);
  if (s < 3600) return printf_string("%lldm%02llds", s / 60, s % 60);
  return printf_string("%lldh%02lldm", s / 3600, s % 3600 / 60);
}

std::string format_rate(double per_second) {
  if (!std::isfinite(per_second) || per_second <= 0) return "--";
  static const char* const kSuffixes[] = {"", "k", "M", "G"};
  double v = per_second;
  size_t i = 0;
  // 999.5 and above would round to "1e+03" under %.3g: move to the next suffix instead.
  while (v >= 999.5 && i + 1 < std::size(kSuffixes)) {
    v /= 1000;
    ++i;
  }
  return printf_string("%.3g%s", v, kSuffixes[i]);
}

std::string render_line(const ProgressLine& line, int bar_width) {
  const double fraction =
      line.total > 0 ? std::clamp(static_cast<double>(line.step) / line.total, 0.0, 1.0) : 0.0;
  std::string out = line.label;
  if (bar_width > 0) {
    const int filled = static_cast<int>(fraction * bar_width);
    out += " [" + std::string(filled, '#') + std::string(bar_width - filled, '-') + "]";
  }
  const int digits = static_cast<int>(std::to_string(line.total).size());
  out += printf_string("  %*lld/%lld", digits, static_cast<long long>(line.step),
                       static_cast<long long>(line.total));
  out += printf_string("  %3d%%", static_cast<int>(fraction * 100));
  out += "  ETA " + format_eta(line.eta_s);
  if (line.rate > 0) out += "  " + format_rate(line.rate) + " " + line.unit;
  for (const auto& [name, value] : line.metrics) out += "  " + name + printf_string(" %.4g", value);
  return out;
}

ProgressBar::ProgressBar(std::string label, int64_t total_steps, std::string unit,
                         ProgressOptions options)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total_steps),
      options_(std::move(options)) {
  OCTET_CHECK(total_ >= 0, "progress", label_, ": total steps must be >= 0, got ", total_);
  if (!options_.now) options_.now = steady_seconds;
  if (options_.out == nullptr) options_.out = &std::cerr;
  if (options_.every_steps <= 0) options_.every_steps = std::max<int64_t>(1, (total_ + 9) / 10);
  switch (options_.mode) {
    case ProgressOptions::Mode::interactive:
      interactive_ = true;
      break;
    case ProgressOptions::Mode::plain:
      interactive_ = false;
      break;
    case ProgressOptions::Mode::automatic:
      // Another stream than stderr (a file, a test's buffer) is never a terminal we can redraw.
      interactive_ = options_.out == &std::cerr && stderr_is_interactive();
      break;
  }
  start_ = last_time_ = options_.started >= 0 ? options_.started : options_.now();
}

double ProgressBar::rate() const { return step_time_ema_ > 0 ? items_ema_ / step_time_ema_ : 0.0; }

double ProgressBar::eta_seconds() const {
  if (step_time_ema_ < 0) return -1;
  return static_cast<double>(std::max<int64_t>(total_ - step_, 0)) * step_time_ema_;
}

ProgressLine ProgressBar::current() const {
  return ProgressLine{label_, step_, total_, eta_seconds(), rate(), unit_, metrics_};
}

void ProgressBar::update(int64_t step, double items, const Metrics& metrics) {
  const double t = options_.now();
  const int64_t advanced = step - step_;
  if (advanced > 0) {
    // Updates may skip steps; the time between them is shared evenly by the steps in between.
    const double step_time = (t - last_time_) / static_cast<double>(advanced);
    if (step_time_ema_ < 0) {
      step_time_ema_ = step_time;
      items_ema_ = items;
    } else {
      step_time_ema_ += kSmoothing * (step_time - step_time_ema_);
      items_ema_ += kSmoothing * (items - items_ema_);
    }
    last_time_ = t;
    step_ = step;
  }
  items_total_ += items;
  metrics_ = metrics;
  if (!options_.enabled || finished_) return;

  const bool first = printed_step_ < 0, last = step_ >= total_;
  const double since = t - printed_time_;
  bool show;
  if (interactive_) {
    show = first || last || since >= options_.redraw_seconds;
  } else {
    show = first || last || step_ - printed_step_ >= options_.every_steps ||
           since >= options_.every_seconds;
  }
  if (!show || step_ == printed_step_) return;
  printed_step_ = step_;
  printed_time_ = t;
  emit(render_line(current(), interactive_ ? kBarWidth : 0), false);
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (!options_.enabled) return;
  const double elapsed = options_.now() - start_;
  std::string text = label_ +
                     printf_string(" done: %lld/%lld steps in ", static_cast<long long>(step_),
                                   static_cast<long long>(total_)) +
                     format_eta(elapsed);
  if (elapsed > 0 && items_total_ > 0) {
    text += ", " + format_rate(items_total_ / elapsed) + " " + unit_;
  }
  for (const auto& [name, value] : metrics_)
    text += printf_string(", %s %.4g", name.c_str(), value);
  emit(text, true);
}

void ProgressBar::emit(const std::string& text, bool final_line) {
  std::ostream& out = *options_.out;
  if (interactive_) {
    // Carriage return, the line, then "erase to end of line" for what a longer line left behind;
    // the newline comes only with the final line so the bar stays on one row.
    out << '\r' << text << "\x1b[K";
    if (final_line) out << '\n';
  } else {
    out << text << '\n';
  }
  out.flush();
}

}  // namespace octet::tools
