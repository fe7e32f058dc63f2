#include "tools/commands/comparison_table.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "ops/error.h"

namespace octet::tools {
namespace {

struct Stats {
  double mean = 0, sd = 0;
  size_t n = 0;
};

Stats stats_of(const std::vector<double>& v) {
  Stats s;
  s.n = v.size();
  for (double x : v) s.mean += x / static_cast<double>(v.size());
  if (v.size() > 1) {
    for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
    s.sd = std::sqrt(s.sd / static_cast<double>(v.size() - 1));
  }
  return s;
}

std::vector<double> minus(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) d.push_back(a[i] - b[i]);
  return d;
}

std::vector<double> relative(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) d.push_back((a[i] - b[i]) / b[i]);
  return d;
}

std::string fixed(double v, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string mean_sd(const Stats& s, double scale, int decimals) {
  const std::string m = fixed(scale * s.mean, decimals);
  return s.n > 1 ? m + " ± " + fixed(scale * s.sd, decimals) : m;
}

}  // namespace

void ComparisonTable::add(const std::string& method, const std::string& scheme, double value) {
  const std::string key = method + (scheme.empty() ? "" : " " + scheme);
  if (!values_.count(key)) keys_.push_back(key);
  values_[key].push_back(value);
}

std::string ComparisonTable::render(const std::string& footnote) const {
  OCTET_CHECK(values_.count("fp32") && values_.count("fp32_finetune"), "comparison table",
              "needs the fp32 and fp32_finetune rows");
  const std::vector<double>& fp32 = values_.at("fp32");
  const std::vector<double>& control = values_.at("fp32_finetune");
  const double sign = style_.higher_is_better ? 1.0 : -1.0;  // > 0: better
  auto delta = [&](const std::vector<double>& v, const std::vector<double>& ref) {
    return style_.relative_delta
               ? mean_sd(stats_of(relative(v, ref)), 100.0, 2) + " %"
               : mean_sd(stats_of(minus(v, ref)), style_.display_scale, style_.decimals);
  };
  std::ostringstream md;
  md << "| method | " << style_.header
     << " | delta | compared with | PTQ loss recovered by QAT |\n|---|---|---|---|---|\n";
  for (const std::string& key : keys_) {
    const std::vector<double>& v = values_.at(key);
    std::string d, reference, recovered;
    if (key == "fp32_finetune" || key.rfind("ptq ", 0) == 0) {
      d = delta(v, fp32);
      reference = "fp32";
    } else if (key.rfind("qat ", 0) == 0) {
      d = delta(v, control);
      reference = "fp32_finetune (paired)";
      const auto ptq = values_.find("ptq " + key.substr(4));
      if (ptq != values_.end()) {
        const double drop = sign * stats_of(minus(fp32, ptq->second)).mean;
        const double gap = sign * stats_of(minus(control, v)).mean;
        const double shown_drop = style_.display_scale * drop;
        recovered = shown_drop >= style_.min_drop
                        ? fixed(100.0 * (1.0 - gap / drop), 0) + "% of " +
                              fixed(style_.display_scale * drop, style_.decimals)
                        : "(PTQ drop below " + fixed(style_.min_drop, style_.decimals) + ")";
      }
    }
    md << "| " << key << " | " << mean_sd(stats_of(v), style_.display_scale, style_.decimals)
       << " | " << d << " | " << reference << " | " << recovered << " |\n";
  }
  md << "\n" << footnote << "\n";
  return md.str();
}

void publish_table(const std::string& markdown, const std::string& path) {
  std::cout << "\n" << markdown;
  if (path.empty()) return;
  std::ofstream f(path);
  f << markdown;
  OCTET_CHECK(static_cast<bool>(f), "comparison table", "cannot write the table to ", path);
  std::cout << "table written to " << path << std::endl;
}

}  // namespace octet::tools
