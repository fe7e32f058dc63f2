// The SVG line chart behind the loss curves of `octet train` and `octet compare`.
#include <gtest/gtest.h>

#include <cmath>

#include "ops/error.h"
#include "tools/commands/line_chart.h"

namespace octet::tools {
namespace {

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(LineChart, DrawsEachSeriesAsOnePolylineWithItsFinitePoints) {
  LineChart c;
  c.title = "octet train cnn: loss";
  c.x_label = "step";
  c.y_label = "loss";
  c.series.push_back({"training", "#4e79a7", {1, 2, 3, 4}, {2.3, 1.1, NAN, 0.6}});
  c.series.push_back({"validation <val>", "#e15759", {2, 4}, {1.2, 0.7}});
  const std::string svg = render_line_svg(c);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_EQ(count(svg, "<polyline"), 2);
  // 3 finite training points, 2 validation points: one "x,y " pair each.
  const size_t first = svg.find("points=\""), second = svg.find("points=\"", first + 1);
  const std::string a = svg.substr(first, svg.find('"', first + 8) - first);
  const std::string b = svg.substr(second, svg.find('"', second + 8) - second);
  EXPECT_EQ(count(a, ","), 3);
  EXPECT_EQ(count(b, ","), 2);
  EXPECT_NE(svg.find("validation &lt;val&gt;"), std::string::npos);
  EXPECT_NE(svg.find(">0.5<"), std::string::npos) << "round y ticks cover the data";
}

TEST(LineChart, RejectsMismatchedSeriesAndEmptyCharts) {
  LineChart c;
  c.series.push_back({"bad", "#000", {1, 2}, {1}});
  EXPECT_THROW(render_line_svg(c), Error);
  c.series = {{"empty", "#000", {1}, {NAN}}};
  EXPECT_THROW(render_line_svg(c), Error);
}

}  // namespace
}  // namespace octet::tools
