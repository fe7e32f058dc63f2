// `octet inspect`: everything a .qmodel says about itself, readable. It goes through
// runtime::ModelFile, so a file it prints is one the runtime accepts.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/model_file.h"
#include "tools/commands/model_commands.h"

namespace octet::tools {
namespace {

using runtime::ModelFile;

struct Settings {
  std::string path;
  bool verify = false;
};

// Left-aligned columns sized to their widest cell.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& os) const {
    std::vector<size_t> width(rows_[0].size(), 0);
    for (const auto& row : rows_) {
      for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
    }
    for (const auto& row : rows_) {
      std::string line = "  ";
      for (size_t c = 0; c < row.size(); ++c) {
        line += row[c];
        if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
      }
      os << line << "\n";
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

std::string with_commas(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

void print_architecture(const proto::QModel& h, std::ostream& os) {
  if (h.has_cnn()) {
    const proto::CnnArch& a = h.cnn();
    os << "architecture  cnn: channels " << a.channels1() << ", " << a.channels2() << "; hidden "
       << a.hidden() << "; classes " << a.classes() << "; images " << a.image_size() << "x"
       << a.image_size() << "\n";
    return;
  }
  const proto::TransformerArch& a = h.transformer();
  os << "architecture  " << (a.family() == proto::TransformerArch::LLAMA ? "llama" : "gpt")
     << ": vocab " << a.vocab() << ", context " << a.block() << ", layers " << a.layers()
     << ", heads " << a.heads() << ", dim " << a.dim() << ", mlp hidden " << a.mlp_hidden() << "\n";
}

void print_provenance(const proto::Provenance& p, std::ostream& os) {
  auto field = [&](const char* label, const std::string& value) {
    if (!value.empty()) os << "  " << label << value << "\n";
  };
  os << "provenance\n";
  field("method       ", p.method());
  field("scheme       ", p.scheme());
  field("created      ", p.created_utc());
  field("octet        ", p.octet_version());
  if (!p.source_checkpoint().empty()) {
    char crc[16];
    std::snprintf(crc, sizeof(crc), "%08x", p.source_checkpoint_crc32());
    os << "  source       " << p.source_checkpoint() << " (crc32 0x" << crc << ")\n";
  }
  field("calibration  ", p.calibration());
  if (!p.recipe().empty()) {
    os << "  recipe\n";
    std::istringstream lines(p.recipe());
    for (std::string line; std::getline(lines, line);) os << "    " << line << "\n";
  }
}

void print_tokenizer(const proto::Tokenizer& t, std::ostream& os) {
  os << "tokenizer     " << (t.kind().empty() ? "(none)" : t.kind());
  if (t.labels_size() > 0) {
    os << " (" << t.labels_size() << "):";
    for (int i = 0; i < t.labels_size(); ++i) os << (i ? ", " : " ") << t.labels(i);
  }
  os << "\n";
}

std::string layer_shape(const proto::Layer& l) {
  if (l.kind() == proto::Layer::CONV2D) {
    return std::to_string(l.out_features()) + "x" + std::to_string(l.in_features()) + " k" +
           std::to_string(l.kernel()) + " s" + std::to_string(l.stride()) + " p" +
           std::to_string(l.padding());
  }
  return std::to_string(l.out_features()) + "x" + std::to_string(l.in_features());
}

std::string scale_range(const View& scales) {
  const float* s = scales.ptr<float>();
  const auto [lo, hi] = std::minmax_element(s, s + scales.numel());
  return fmt("%.3g", *lo) + " .. " + fmt("%.3g", *hi);
}

// The tensor names a layer's parts may take (proto/qmodel.proto, Layer).
std::vector<std::string> part_names(const std::string& layer) {
  std::vector<std::string> names;
  for (const char* part : {"weight_codes", "weight_scale", "weight_zero_point", "input_scale",
                           "input_zero_point", "bias", "outlier_columns", "outlier_weight"}) {
    names.push_back(layer + "." + part);
  }
  return names;
}

int run(const Settings& s) {
  const ModelFile file = ModelFile::open(s.path);
  const proto::QModel& h = file.header();
  std::ostream& os = std::cout;
  os << s.path << ": octet model, format version " << h.format_version() << ", "
     << with_commas(file.file_size()) << " bytes\n";
  print_architecture(h, os);
  print_tokenizer(h.tokenizer(), os);
  print_provenance(h.provenance(), os);

  // The f32 bytes the same parameters would take: quantized weights at full width, plus every
  // tensor that is f32 already.
  uint64_t f32_bytes = 0;
  std::set<std::string> parts;
  os << "\nquantized layers (" << h.layers_size() << ")\n";
  TextTable layers({"name", "kind", "out x in", "weight", "input", "weight scale", "outliers"});
  for (const proto::Layer& l : h.layers()) {
    for (std::string& n : part_names(l.name())) parts.insert(std::move(n));
    const int64_t taps = l.kind() == proto::Layer::CONV2D ? l.kernel() * l.kernel() : 1;
    f32_bytes += 4 * static_cast<uint64_t>(l.out_features() * l.in_features() * taps);
    if (l.has_bias()) f32_bytes += 4 * static_cast<uint64_t>(l.out_features());
    std::string input = "f32 (weight-only)";
    if (l.has_input()) {
      input = file.input_spec(l).str() + (l.input().static_scale() ? "" : " (dynamic)");
    }
    const View scales = file.archive().view(l.name() + ".weight_scale");
    layers.add({l.name(), l.kind() == proto::Layer::CONV2D ? "conv2d" : "linear", layer_shape(l),
                file.weight_spec(l).str(), input, scale_range(scales),
                l.llm_int8() ? std::to_string(file.outlier_count(l)) : "-"});
  }
  layers.print(os);
  if (h.skipped_layers_size() > 0) {
    os << "\nskipped layers (kept in f32):";
    for (const std::string& name : h.skipped_layers()) os << " " << name;
    os << "\n";
  }

  TextTable plain({"name", "dtype", "shape"});
  int plain_count = 0;
  for (const std::string& name : file.archive().names()) {
    if (parts.count(name) != 0) continue;
    const io::TensorRecord& r = file.archive().record(name);
    plain.add({name, dtype_name(r.dtype), shape_str(r.shape)});
    f32_bytes += r.nbytes;
    ++plain_count;
  }
  os << "\nf32 tensors (" << plain_count << ")\n";
  if (plain_count > 0) plain.print(os);

  if (s.verify) {
    file.verify_all();
    os << "\nverified the checksums of all " << file.archive().names().size() << " tensors\n";
  }
  const double ratio = f32_bytes > 0 ? static_cast<double>(file.file_size()) / f32_bytes : 0.0;
  os << "\nsize  " << with_commas(file.file_size())
     << " bytes; the same parameters in f32: " << with_commas(f32_bytes)
     << " bytes; file = " << fmt("%.1f", 100.0 * ratio) << "% of f32"
     << (ratio > 0 && ratio < 1 ? " (" + fmt("%.2f", 1.0 / ratio) + "x smaller)" : "") << "\n";
  return 0;
}

}  // namespace

std::function<int()> add_inspect_command(CLI::App& app) {
  auto settings = std::make_shared<Settings>();
  auto* cmd = app.add_subcommand("inspect", "describe an exported model (.qmodel)");
  cmd->add_option("model", settings->path, "the .qmodel file")->required();
  cmd->add_flag("--verify", settings->verify, "check every tensor's checksum");
  return [cmd, settings]() { return *cmd ? run(*settings) : -1; };
}

}  // namespace octet::tools
