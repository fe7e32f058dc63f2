#pragma once
// The small pieces both SVG charts (svg_chart.h's bars, line_chart.h's curves) are made of.
#include <string>

namespace octet::tools {

// `text` with &, <, > and " escaped for SVG text and attributes.
std::string svg_escape(const std::string& text);
// `v` with `decimals` decimals; a value that rounds to zero prints as 0, never "-0.0".
std::string svg_number(double v, int decimals);
// A tick spacing of 1, 2 or 5 times a power of ten, giving about five intervals over `range`.
double nice_step(double range);

}  // namespace octet::tools
