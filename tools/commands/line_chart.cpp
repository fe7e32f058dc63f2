#include "tools/commands/line_chart.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "ops/error.h"
#include "tools/commands/svg_text.h"

namespace octet::tools {
namespace {

constexpr double kLeft = 70, kRight = 150, kTop = 46, kBottom = 50;

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
};

// Ticks on multiples of a round step that cover [lo, hi].
struct Ticks {
  double lo, hi, step;
};
Ticks ticks_for(Range r) {
  if (!(r.hi > r.lo)) r.hi = r.lo + 1;
  const double step = nice_step(r.hi - r.lo);
  return {std::floor(r.lo / step) * step, std::ceil(r.hi / step) * step, step};
}

int decimals_for(double step) {
  return std::max(0, static_cast<int>(-std::floor(std::log10(step))));
}

void text(std::ostringstream& os, double x, double y, const std::string& s, int size,
          const char* anchor, const std::string& extra = "") {
  os << "<text x=\"" << svg_number(x, 1) << "\" y=\"" << svg_number(y, 1) << "\" font-size=\""
     << size << "\" text-anchor=\"" << anchor << "\"" << extra << ">" << svg_escape(s)
     << "</text>\n";
}

}  // namespace

std::string render_line_svg(const LineChart& c) {
  Range xr, yr;
  for (const LineSeries& s : c.series) {
    OCTET_CHECK(s.x.size() == s.y.size(), "chart", "series '", s.name, "' has ", s.x.size(),
                " x values and ", s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xr.add(s.x[i]);
      yr.add(s.y[i]);
    }
  }
  OCTET_CHECK(std::isfinite(xr.lo), "chart", "'", c.title, "' has no finite point to draw");
  const Ticks tx = ticks_for(xr), ty = ticks_for(yr);
  const double w = c.width, h = c.height;
  const double left = kLeft, right = w - kRight, top = kTop, bottom = h - kBottom;
  auto px = [&](double x) { return left + (x - tx.lo) / (tx.hi - tx.lo) * (right - left); };
  auto py = [&](double y) { return bottom - (y - ty.lo) / (ty.hi - ty.lo) * (bottom - top); };

  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << c.width << "\" height=\""
     << c.height << "\" font-family=\"sans-serif\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  text(os, w / 2, 26, c.title, 15, "middle", " font-weight=\"bold\"");
  const int dx = decimals_for(tx.step), dy = decimals_for(ty.step);
  for (double v = ty.lo; v <= ty.hi + 1e-9 * ty.step; v += ty.step) {
    os << "<line x1=\"" << left << "\" x2=\"" << right << "\" y1=\"" << svg_number(py(v), 1)
       << "\" y2=\"" << svg_number(py(v), 1) << "\" stroke=\"#e0e0e0\"/>\n";
    text(os, left - 6, py(v) + 4, svg_number(v, dy), 11, "end");
  }
  for (double v = tx.lo; v <= tx.hi + 1e-9 * tx.step; v += tx.step)
    text(os, px(v), bottom + 16, svg_number(v, dx), 11, "middle");
  os << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << right - left << "\" height=\""
     << bottom - top << "\" fill=\"none\" stroke=\"#444\"/>\n";
  text(os, (left + right) / 2, h - 12, c.x_label, 12, "middle");
  text(os, 16, (top + bottom) / 2, c.y_label, 12, "middle",
       " transform=\"rotate(-90 16 " + svg_number((top + bottom) / 2, 1) + ")\"");
  for (size_t k = 0; k < c.series.size(); ++k) {
    const LineSeries& s = c.series[k];
    os << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"1.6\" points=\"";
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      os << svg_number(px(s.x[i]), 1) << "," << svg_number(py(s.y[i]), 1) << " ";
    }
    os << "\"/>\n";
    const double ly = top + 10 + 18 * static_cast<double>(k);
    os << "<line x1=\"" << right + 12 << "\" x2=\"" << right + 32 << "\" y1=\"" << ly << "\" y2=\""
       << ly << "\" stroke=\"" << s.color << "\" stroke-width=\"2\"/>\n";
    text(os, right + 38, ly + 4, s.name, 11, "start");
  }
  os << "</svg>\n";
  return os.str();
}

void write_line_svg(const LineChart& chart, const std::string& path) {
  const std::string svg = render_line_svg(chart);
  std::ofstream out(path);
  OCTET_CHECK(out.good(), "chart", "cannot write ", path);
  out << svg;
  OCTET_CHECK(out.good(), "chart", "writing ", path, " failed");
}

}  // namespace octet::tools
