#include "tools/commands/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "ops/error.h"
#include "tools/commands/svg_text.h"

namespace octet::tools {
namespace {

constexpr int kLeft = 78, kRight = 24, kTitleHeight = 44;
constexpr int kPanelHeader = 40, kPanelFooter = 44;
constexpr int kMinGroupWidth = 84, kMaxBarWidth = 30;
constexpr double kCharWidth = 6.6;  // rough width of an 11px sans-serif character

struct Axis {
  double lo = 0, hi = 1, step = 0.2;
  double top = 0, bottom = 0;  // pixels
  double y(double v) const { return bottom - (v - lo) / (hi - lo) * (bottom - top); }
};

Axis make_axis(const BarPanel& p, double top, double bottom) {
  double lo = 0, hi = 0;  // the range always includes 0, where the bars start
  for (const BarSeries& s : p.series)
    for (double v : s.values)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (p.reference) lo = std::min(lo, *p.reference), hi = std::max(hi, *p.reference);
  if (hi - lo <= 0) hi = lo + 1;
  // Headroom for the value printed past each bar's end.
  const double pad = 0.1 * (hi - lo);
  if (hi > 0) hi += pad;
  if (lo < 0) lo -= pad;
  Axis a;
  a.step = nice_step(hi - lo);
  a.lo = std::floor(lo / a.step) * a.step;
  a.hi = std::ceil(hi / a.step) * a.step;
  a.top = top;
  a.bottom = bottom;
  return a;
}

void text(std::ostringstream& os, double x, double y, const std::string& s, int size,
          const std::string& anchor, const std::string& extra = "") {
  os << "<text x=\"" << x << "\" y=\"" << y << "\" font-size=\"" << size << "\" text-anchor=\""
     << anchor << "\"" << extra << ">" << svg_escape(s) << "</text>\n";
}

void render_panel(std::ostringstream& os, const BarPanel& p, double y0, int width, int height) {
  const double plot_top = y0 + kPanelHeader, plot_bottom = y0 + height - kPanelFooter;
  const double plot_left = kLeft, plot_right = width - kRight;
  const Axis axis = make_axis(p, plot_top, plot_bottom);
  text(os, plot_left, y0 + 20, p.title, 14, "start", " font-weight=\"bold\"");

  // Legend at the right of the title row, last series rightmost.
  double x = plot_right;
  for (auto s = p.series.rbegin(); s != p.series.rend(); ++s) {
    x -= kCharWidth * static_cast<double>(s->name.size());
    text(os, x, y0 + 20, s->name, 11, "start");
    x -= 18;
    os << "<rect x=\"" << x << "\" y=\"" << y0 + 10 << "\" width=\"12\" height=\"12\" fill=\""
       << s->color << "\"/>\n";
    x -= 14;
  }

  // Grid, tick labels and the y label.
  const int tick_decimals = std::max(0, static_cast<int>(-std::floor(std::log10(axis.step))));
  for (double v = axis.lo; v <= axis.hi + 1e-9 * axis.step; v += axis.step) {
    const double y = axis.y(v);
    os << "<line x1=\"" << plot_left << "\" x2=\"" << plot_right << "\" y1=\"" << y << "\" y2=\""
       << y << "\" stroke=\"#e3e3e3\"/>\n";
    text(os, plot_left - 6, y + 4, svg_number(v, tick_decimals), 11, "end");
  }
  const double mid = (plot_top + plot_bottom) / 2;
  text(os, 16, mid, p.y_label, 12, "middle",
       " transform=\"rotate(-90 16 " + svg_number(mid, 1) + ")\"");

  // The bars, grouped by category.
  const double group = (plot_right - plot_left) / static_cast<double>(p.categories.size());
  const double n_series = static_cast<double>(std::max<size_t>(1, p.series.size()));
  const double bar = std::min<double>(kMaxBarWidth, (group - 16) / n_series);
  const double zero = axis.y(0);
  for (size_t c = 0; c < p.categories.size(); ++c) {
    const double group_left = plot_left + group * static_cast<double>(c);
    const double bars_left = group_left + (group - bar * n_series) / 2;
    for (size_t s = 0; s < p.series.size(); ++s) {
      const double v = p.series[s].values[c];
      const double bx = bars_left + bar * static_cast<double>(s), cx = bx + bar / 2;
      if (!std::isfinite(v)) {
        text(os, cx, zero - 4, "n/a", 9, "middle", " fill=\"#888\"");
        continue;
      }
      const double y = axis.y(v);
      os << "<rect x=\"" << bx + 1 << "\" y=\"" << std::min(y, zero) << "\" width=\"" << bar - 2
         << "\" height=\"" << std::max(0.5, std::fabs(zero - y)) << "\" fill=\""
         << p.series[s].color << "\"><title>" << svg_escape(p.series[s].name) << " "
         << svg_escape(p.categories[c]) << ": " << svg_number(v, p.decimals + 2)
         << "</title></rect>\n";
      const double label_y = v >= 0 ? y - 4 : y + 12;
      text(os, cx, label_y, svg_number(v, p.decimals) + p.value_suffix, 10, "middle");
    }
    text(os, group_left + group / 2, plot_bottom + 18, p.categories[c], 11, "middle");
  }
  if (p.reference) {
    const double y = axis.y(*p.reference);
    os << "<line x1=\"" << plot_left << "\" x2=\"" << plot_right << "\" y1=\"" << y << "\" y2=\""
       << y << "\" stroke=\"#555\" stroke-dasharray=\"6 4\"/>\n";
  }
  os << "<line x1=\"" << plot_left << "\" x2=\"" << plot_right << "\" y1=\"" << zero << "\" y2=\""
     << zero << "\" stroke=\"#222\"/>\n";
  os << "<line x1=\"" << plot_left << "\" x2=\"" << plot_left << "\" y1=\"" << plot_top
     << "\" y2=\"" << plot_bottom << "\" stroke=\"#222\"/>\n";
}

}  // namespace

std::string render_svg(const BarChart& chart) {
  size_t groups = 1;
  for (const BarPanel& p : chart.panels) {
    OCTET_CHECK(!p.categories.empty(), "chart", "panel '", p.title, "' has no categories");
    for (const BarSeries& s : p.series) {
      OCTET_CHECK(s.values.size() == p.categories.size(), "chart", "series '", s.name,
                  "' of panel '", p.title, "' has ", s.values.size(), " values for ",
                  p.categories.size(), " categories");
    }
    groups = std::max(groups, p.categories.size());
  }
  const int width = std::max(640, kLeft + kRight + kMinGroupWidth * static_cast<int>(groups));
  const int height = kTitleHeight + chart.panel_height * static_cast<int>(chart.panels.size()) + 8;
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
     << "\" viewBox=\"0 0 " << width << " " << height
     << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n";
  os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  text(os, width / 2.0, 28, chart.title, 17, "middle", " font-weight=\"bold\"");
  for (size_t i = 0; i < chart.panels.size(); ++i) {
    render_panel(os, chart.panels[i], kTitleHeight + chart.panel_height * static_cast<double>(i),
                 width, chart.panel_height);
  }
  os << "</svg>\n";
  return os.str();
}

void write_svg(const BarChart& chart, const std::string& path) {
  const std::string svg = render_svg(chart);
  std::ofstream out(path, std::ios::binary);
  OCTET_CHECK(out.good(), "chart", "cannot write ", path);
  out << svg;
  out.close();
  OCTET_CHECK(out.good(), "chart", "writing ", path, " failed");
}

}  // namespace octet::tools
