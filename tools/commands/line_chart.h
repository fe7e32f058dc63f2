#pragma once
// A line chart written as a self-contained SVG file: curves over a shared x axis (training step)
// with round-number ticks on both axes and a legend. What `octet train` and `octet compare` draw
// their loss curves with; no plotting dependency.
#include <string>
#include <vector>

namespace octet::tools {

struct LineSeries {
  std::string name;          // legend entry
  std::string color;         // any SVG colour
  std::vector<double> x, y;  // same length; non-finite points are skipped
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<LineSeries> series;
  int width = 720, height = 400;
};

// Throws octet::Error ("chart") when a series' x and y differ in length or no series has a
// finite point.
std::string render_line_svg(const LineChart& chart);
void write_line_svg(const LineChart& chart, const std::string& path);

}  // namespace octet::tools
