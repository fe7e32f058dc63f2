#pragma once
// The FP32 / PTQ / QAT comparison table that `octet qat cnn` and `octet qat lm` print: one row
// per method ("fp32", "fp32_finetune", "ptq <scheme>", "qat <scheme>"), one value per seed.
// PTQ rows are compared with the FP32 model they were calibrated from; QAT rows with FP32
// fine-tuned on the same steps and data (paired by seed), the control that separates what
// quantization costs from what the extra training gains. "Recovered" is the share of PTQ's loss
// of quality that QAT wins back: 1 - (control - qat) / (fp32 - ptq), in the metric's good
// direction.
#include <map>
#include <string>
#include <vector>

namespace octet::tools {

struct MetricStyle {
  std::string header;     // "test accuracy %", "validation loss (nats/byte)"
  bool higher_is_better;  // accuracy: true; loss: false
  double display_scale;   // 100 for accuracy stored in [0, 1], else 1
  int decimals;           // digits after the point
  bool relative_delta;    // deltas in % of the reference (loss) rather than in units (points)
  // A PTQ drop below this (in displayed units) is noise: no recovery share is printed for it.
  double min_drop;
};

class ComparisonTable {
 public:
  explicit ComparisonTable(MetricStyle style) : style_(std::move(style)) {}
  void add(const std::string& method, const std::string& scheme, double value);
  // Markdown; `footnote` states seeds and settings. Needs the fp32 and fp32_finetune rows.
  std::string render(const std::string& footnote) const;

 private:
  MetricStyle style_;
  std::vector<std::string> keys_;  // first-seen order
  std::map<std::string, std::vector<double>> values_;
};

// Prints `markdown` and, if `path` is not empty, writes it there too (throws naming the path).
void publish_table(const std::string& markdown, const std::string& path);

}  // namespace octet::tools
