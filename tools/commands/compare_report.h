#pragma once
// The report of `octet compare`: one row per exported model (FP32 baseline, its fine-tuned
// control, PTQ and QAT per scheme) with the runtime's metric next to the fake-quant model's, the
// delta to FP32, file size, latency and speed-up; written as markdown, JSON and an SVG chart.
#include <cstdint>
#include <string>
#include <vector>

namespace octet::tools {

struct CompareRow {
  std::string method, scheme;          // scheme empty for the fp32 rows
  double fake_quant = 0, runtime = 0;  // accuracy in [0, 1], or validation loss in nats/byte
  double prepare_seconds = 0;          // the experiment's time for the row (calibrate, fine-tune)
  uint64_t bytes = 0;                  // the .qmodel file
  double ms_per_batch = 0, per_second = 0;  // runtime latency and throughput
  std::string file;
  std::string sample;  // language models: the greedy continuation of the prompt
  std::string
      detail;  // what the method did to which layers, shown next to the scheme; may be empty
  std::string label() const { return scheme.empty() ? method : method + " " + scheme; }
};

struct CompareReport {
  bool accuracy = true;         // test accuracy (higher is better), else validation loss (lower is)
  std::string task;             // "cnn", "lm"
  std::string title;            // the chart's
  std::string batch;            // what one timed batch is: "256 images"
  std::string per_second_unit;  // "images/s", "tokens/s"
  std::string prompt;           // language models: what the samples continue
  std::vector<std::string> categories;  // the chart's schemes, in table order
  std::vector<std::string> notes;       // settings and skipped methods, under the table
  std::vector<CompareRow> rows;         // rows[0] is the fp32 baseline
};

// Whether the runtime reproduced the fake-quant metric: within 0.1 accuracy point (10 of 10k
// test images), or 1e-3 relative validation loss.
bool runtime_agrees(const CompareReport& report, const CompareRow& row);

// Writes <dir>/compare.md, compare.json and compare.svg and prints the markdown. Then throws
// octet::Error ("compare") naming every row whose runtime metric disagrees with its fake-quant
// model: that agreement is the product's promise, so a break fails the command.
void publish_comparison(const CompareReport& report, const std::string& dir);

// "%.*f" of v.
std::string fixed(double v, int decimals);

}  // namespace octet::tools
