#include "framework/data/text.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "ops/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBibleCommand = "bible";
constexpr const char* kWholeBible = "gen1:1-rev22:21";
// The complete printout is 4,298,239 bytes; anything much shorter is a cut-off cache or run.
constexpr size_t kMinRawBytes = 4'000'000;

bool looks_complete(const std::string& raw) {
  constexpr std::string_view kFirst = "\nGenesis 1\n";
  constexpr std::string_view kLast = "Amen.\n";
  return raw.size() >= kMinRawBytes && raw.compare(0, kFirst.size(), kFirst) == 0 &&
         raw.compare(raw.size() - kLast.size(), kLast.size(), kLast) == 0;
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    if (::access((fs::path(dir) / program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string run_bible() {
  OCTET_CHECK(on_path(kBibleCommand), "kjv", "the `", kBibleCommand,
              "` command is not on PATH; install Debian's bible-kjv (apt-get install bible-kjv)");
  const std::string command = std::string(kBibleCommand) + " " + kWholeBible + " 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  OCTET_CHECK(pipe != nullptr, "kjv", "cannot start `", command, "`");
  std::string out;
  char buf[1 << 16];
  size_t got = 0;
  while ((got = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, got);
  const int status = ::pclose(pipe);
  OCTET_CHECK(status == 0, "kjv", "`", command, "` failed (wait status ", status,
              "); is Debian's bible-kjv installed completely?");
  OCTET_CHECK(looks_complete(out), "kjv", "`", command, "` printed ", out.size(),
              " bytes, not the whole KJV (expected > ", kMinRawBytes,
              " bytes from Genesis 1 to Revelation 22:21 \"... Amen.\")");
  return out;
}

std::string read_file_or_empty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Best effort: the cache only saves a subprocess, so a read-only home must not stop training.
void write_cache_atomically(const std::string& path, const std::string& text) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return;
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return;
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size() &&
                       std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed || std::rename(tmp.c_str(), path.c_str()) != 0) fs::remove(tmp, ec);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string kjv_cache_path() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && *xdg != '\0') return (fs::path(xdg) / "octet" / "kjv.txt").string();
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') {
    return (fs::path(home) / ".cache" / "octet" / "kjv.txt").string();
  }
  return {};
}

std::string load_kjv_raw() {
  const std::string cache = kjv_cache_path();
  if (!cache.empty()) {
    std::string cached = read_file_or_empty(cache);
    if (looks_complete(cached)) return cached;
  }
  std::string raw = run_bible();
  if (!cache.empty()) write_cache_atomically(cache, raw);
  return raw;
}

std::string normalize_kjv_text(std::string_view raw) {
  if (!raw.empty() && raw.front() == '\n') raw.remove_prefix(1);
  std::string out;
  out.reserve(raw.size());
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t eol = raw.find('\n', pos);
    eol = eol == std::string_view::npos ? raw.size() : eol + 1;
    std::string_view line = raw.substr(pos, eol - pos);
    // A verse starts "  <digits> "; wrapped continuation lines and headings start with a letter.
    if (line.size() > 3 && line[0] == ' ' && line[1] == ' ' && is_digit(line[2])) {
      size_t k = 2;
      while (k < line.size() && is_digit(line[k])) ++k;
      if (k < line.size() && line[k] == ' ') line.remove_prefix(k + 1);
    }
    out.append(line);
    pos = eol;
  }
  return out;
}

std::string load_kjv_text() { return normalize_kjv_text(load_kjv_raw()); }

TextDataset::TextDataset(std::string bytes, double train_fraction) : bytes_(std::move(bytes)) {
  OCTET_CHECK(train_fraction > 0.0 && train_fraction < 1.0, "text",
              "train_fraction must be in (0, 1), got ", train_fraction);
  train_end_ = static_cast<int64_t>(static_cast<double>(bytes_.size()) * train_fraction);
}

void TextDataset::sample(Split split, int64_t batch, int64_t block, Generator& gen,
                         std::vector<int64_t>& x, std::vector<int64_t>& y) const {
  OCTET_CHECK(batch > 0 && block > 0, "text", "sample: batch and block must be > 0, got batch ",
              batch, ", block ", block);
  const int64_t lo = begin(split);
  // A window needs block + 1 bytes (inputs plus the one-further targets) inside the split.
  const int64_t starts = size(split) - block;
  OCTET_CHECK(starts > 0, "text", "sample: block ", block, " needs at least ", block + 1,
              " bytes but the ", split == Split::kTrain ? "train" : "validation", " split has ",
              size(split));
  x.resize(static_cast<size_t>(batch * block));
  y.resize(static_cast<size_t>(batch * block));
  const auto* text = reinterpret_cast<const uint8_t*>(bytes_.data());
  for (int64_t r = 0; r < batch; ++r) {
    const int64_t start = lo + static_cast<int64_t>(gen.below(static_cast<uint64_t>(starts)));
    for (int64_t t = 0; t < block; ++t) {
      x[r * block + t] = text[start + t];
      y[r * block + t] = text[start + t + 1];
    }
  }
}

std::vector<TextWindow> TextDataset::eval_windows(Split split, int64_t block,
                                                  int64_t max_windows) const {
  OCTET_CHECK(block > 0, "text", "eval_windows: block must be > 0, got ", block);
  const int64_t lo = begin(split);
  // The last target of a window is at its end, which must stay below the split's end.
  const int64_t available = (size(split) - 1) / block;
  const int64_t count =
      max_windows > 0 && max_windows < available ? max_windows : std::max<int64_t>(available, 0);
  std::vector<TextWindow> windows;
  windows.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    // i * available / count spreads a capped subset evenly; with no cap it is just i.
    const int64_t slot = static_cast<int64_t>(static_cast<__int128>(i) * available / count);
    windows.emplace_back(lo + slot * block, lo + (slot + 1) * block);
  }
  return windows;
}

void TextDataset::gather(const std::vector<TextWindow>& windows, std::vector<int64_t>& x,
                         std::vector<int64_t>& y) const {
  const int64_t block = windows.empty() ? 0 : windows.front().second - windows.front().first;
  x.resize(windows.size() * static_cast<size_t>(block));
  y.resize(x.size());
  const auto* text = reinterpret_cast<const uint8_t*>(bytes_.data());
  for (size_t r = 0; r < windows.size(); ++r) {
    const auto [b, e] = windows[r];
    OCTET_CHECK(e - b == block, "text", "gather: window ", r, " has length ", e - b, ", expected ",
                block, " like window 0");
    OCTET_CHECK(b >= 0 && e < total(), "text", "gather: window ", r, " [", b, ", ", e,
                ") plus its target byte lies outside the text of ", total(), " bytes");
    for (int64_t t = 0; t < block; ++t) {
      x[r * block + t] = text[b + t];
      y[r * block + t] = text[b + t + 1];
    }
  }
}

}  // namespace octet
