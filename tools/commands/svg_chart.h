#pragma once
// A grouped bar chart written as a self-contained SVG file: one or more panels stacked vertically,
// each with its own y axis (ticks on round numbers, always including 0), category labels under
// the groups, a legend and a value printed on every bar. Hand-written so `octet compare` needs no
// plotting dependency; any browser or rsvg-convert renders it.
#include <optional>
#include <string>
#include <vector>

namespace octet::tools {

struct BarSeries {
  std::string name;            // legend entry
  std::string color;           // any SVG colour: "#4e79a7"
  std::vector<double> values;  // one per category; NaN draws no bar (and prints "n/a")
};

struct BarPanel {
  std::string title;
  std::string y_label;
  std::vector<std::string> categories;  // the groups along the x axis
  std::vector<BarSeries> series;        // the bars inside each group
  int decimals = 1;                     // of the value printed on each bar
  std::string value_suffix;             // appended to those values: "x", "%"
  std::optional<double> reference;      // a dashed horizontal line (1.0 for a speed-up)
};

struct BarChart {
  std::string title;
  std::vector<BarPanel> panels;
  int panel_height = 260;  // pixels of each panel's plot area plus its labels
};

// The SVG document. Throws octet::Error ("chart") when a series' value count differs from its
// panel's categories or a panel has none.
std::string render_svg(const BarChart& chart);
// render_svg written to `path` (throws naming the path if it cannot be written).
void write_svg(const BarChart& chart, const std::string& path);

}  // namespace octet::tools
