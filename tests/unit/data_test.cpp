// Data layer: IDX parsing and its errors, the real Fashion-MNIST files, epoch shuffling, the KJV
// corpus with its cache, and the byte-level TextDataset.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "framework/data/batching.h"
#include "framework/data/fashion_mnist.h"
#include "framework/data/idx.h"
#include "framework/data/text.h"
#include "ops/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

using Bytes = std::vector<uint8_t>;

// One scratch folder per process, removed at exit so repeated runs leave nothing in /tmp.
const fs::path& scratch_root() {
  struct Root {
    fs::path path = fs::temp_directory_path() / ("octet_data_test_" + std::to_string(::getpid()));
    ~Root() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static const Root root;
  return root.path;
}

fs::path scratch_dir(const std::string& name) {
  fs::path dir = scratch_root() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_plain(const fs::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void write_gzip(const fs::path& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

// An IDX header for unsigned bytes with the given dims, big-endian.
Bytes idx_header(const std::vector<uint32_t>& dims, uint8_t type = 0x08) {
  Bytes b = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(d >> shift));
  }
  return b;
}

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Runs fn, expects an octet::Error of `area` whose message contains every one of `parts`.
void expect_error(const std::function<void()>& fn, const std::string& area,
                  const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected an error mentioning " << parts.front();
  } catch (const Error& e) {
    EXPECT_EQ(e.op(), area) << e.what();
    for (const auto& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "missing '" << p << "' in: " << e.what();
  }
}

// ---- IDX ---------------------------------------------------------------------------------------

TEST(Idx, ReadsPlainAndGzipHandWrittenFile) {
  const fs::path dir = scratch_dir("idx_ok");
  const Bytes file = concat(idx_header({2, 3}), {1, 2, 3, 4, 5, 250});
  write_plain(dir / "a.idx", file);
  write_gzip(dir / "a.idx.gz", file);
  for (const char* name : {"a.idx", "a.idx.gz"}) {
    const IdxArray a = read_idx((dir / name).string());
    EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 3})) << name;
    EXPECT_EQ(a.data, (Bytes{1, 2, 3, 4, 5, 250})) << name;
    EXPECT_EQ(a.numel(), 6);
  }
}

TEST(Idx, DimsAreBigEndian) {
  const fs::path dir = scratch_dir("idx_be");
  Bytes body(0x0102);
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<uint8_t>(i * 7);
  write_gzip(dir / "b.gz", concat(idx_header({0x0102}), body));
  const IdxArray a = read_idx((dir / "b.gz").string());
  EXPECT_EQ(a.dims, (std::vector<int64_t>{258}));
  EXPECT_EQ(a.data, body);
}

TEST(Idx, ErrorsNameFilePlaceAndReason) {
  const fs::path dir = scratch_dir("idx_bad");
  const std::string missing = (dir / "nope.gz").string();
  expect_error([&] { read_idx(missing); }, "idx", {missing, "cannot open", "No such file"});

  const std::string magic = (dir / "magic").string();
  write_plain(magic, concat({0x1f, 0x34, 0x08, 0x01, 0, 0, 0, 1}, {7}));
  expect_error([&] { read_idx(magic); }, "idx", {magic, "bad magic at byte 0", "0x1F 0x34"});

  const std::string float_file = (dir / "float.gz").string();
  write_gzip(float_file, concat(idx_header({1}, 0x0D), {0, 0, 0, 0}));
  expect_error([&] { read_idx(float_file); }, "idx",
               {float_file, "byte 2", "0x0D", "float32", "only unsigned byte"});

  const std::string short_header = (dir / "short_header").string();
  write_plain(short_header, {0, 0, 8, 3, 0, 0, 0, 2});
  expect_error([&] { read_idx(short_header); }, "idx",
               {short_header, "header truncated", "expected 16 bytes got 8"});

  const std::string truncated = (dir / "truncated.gz").string();
  write_gzip(truncated, concat(idx_header({2, 3}), {1, 2, 3, 4, 5}));
  expect_error([&] { read_idx(truncated); }, "idx",
               {truncated, "data truncated at byte offset 17", "expected 6", "got 5"});

  const std::string trailing = (dir / "trailing").string();
  write_plain(trailing, concat(idx_header({2, 3}), {1, 2, 3, 4, 5, 6, 9}));
  expect_error([&] { read_idx(trailing); }, "idx",
               {trailing, "trailing garbage at byte offset 18", "expected 6", "got 7", "1 extra"});
}

TEST(Idx, CutGzipStreamIsReportedNotSilentlyShort) {
  const fs::path dir = scratch_dir("idx_cut");
  Bytes body(5000);
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  const fs::path whole = dir / "whole.gz";
  write_gzip(whole, concat(idx_header({5000}), body));
  std::ifstream in(whole, std::ios::binary);
  Bytes gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gz.resize(gz.size() / 2);
  const std::string cut = (dir / "cut.gz").string();
  write_plain(cut, gz);
  expect_error([&] { read_idx(cut); }, "idx", {cut, "compressed stream is damaged"});
}

// ---- Fashion-MNIST -----------------------------------------------------------------------------

TEST(FashionMnist, TrainSplitShapesAndBalancedLabels) {
  const ImageDataset d = load_fashion_mnist(kFashionMnistDir, /*train=*/true);
  EXPECT_EQ(d.n, 60000);
  EXPECT_EQ(d.rows, 28);
  EXPECT_EQ(d.cols, 28);
  EXPECT_EQ(d.images.size(), size_t{60000} * 28 * 28);
  ASSERT_EQ(d.labels.size(), size_t{60000});
  std::array<int, kFashionMnistClasses> per_class{};
  for (uint8_t l : d.labels) {
    ASSERT_LT(l, kFashionMnistClasses);
    ++per_class[l];
  }
  for (int c : per_class) EXPECT_EQ(c, 6000);
  // Real pictures, not zeros: dark background with bright foreground.
  const auto [lo, hi] = std::minmax_element(d.images.begin(), d.images.end());
  EXPECT_EQ(*lo, 0);
  EXPECT_EQ(*hi, 255);
}

TEST(FashionMnist, TestSplitShapes) {
  const ImageDataset d = load_fashion_mnist(kFashionMnistDir, /*train=*/false);
  EXPECT_EQ(d.n, 10000);
  EXPECT_EQ(d.images.size(), size_t{10000} * 28 * 28);
  std::array<int, kFashionMnistClasses> per_class{};
  for (uint8_t l : d.labels) ++per_class[l];
  for (int c : per_class) EXPECT_EQ(c, 1000);
}

TEST(FashionMnist, CountMismatchNamesBothFilesAndPlainFilesWork) {
  const fs::path dir = scratch_dir("fm_mismatch");
  write_plain(dir / "t10k-images-idx3-ubyte", concat(idx_header({3, 2, 2}), Bytes(12, 9)));
  write_gzip(dir / "t10k-labels-idx1-ubyte.gz", concat(idx_header({2}), {1, 2}));
  expect_error([&] { load_fashion_mnist(dir.string(), false); }, "fashion_mnist",
               {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte.gz", "3 images", "2 labels"});

  write_gzip(dir / "t10k-labels-idx1-ubyte.gz", concat(idx_header({3}), {1, 2, 3}));
  const ImageDataset d = load_fashion_mnist(dir.string(), false);
  EXPECT_EQ(d.n, 3);
  EXPECT_EQ(d.labels, (Bytes{1, 2, 3}));

  write_gzip(dir / "t10k-labels-idx1-ubyte.gz", concat(idx_header({3}), {1, 10, 3}));
  expect_error([&] { load_fashion_mnist(dir.string(), false); }, "fashion_mnist",
               {"label 1", "is 10"});
  expect_error([&] { load_fashion_mnist(dir.string(), true); }, "idx",
               {"train-images-idx3-ubyte.gz", "cannot open"});
}

// ---- Epoch sampler -----------------------------------------------------------------------------

TEST(ShuffledIndices, IsAPermutationDeterminedByTheGenerator) {
  Generator a(42), b(42), c(43);
  const auto pa = shuffled_indices(1000, a);
  EXPECT_EQ(pa, shuffled_indices(1000, b));
  EXPECT_NE(pa, shuffled_indices(1000, c));
  EXPECT_EQ(a.state(), b.state());
  EXPECT_NE(pa, shuffled_indices(1000, a)) << "the next epoch must differ";
  std::vector<int64_t> sorted = pa;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_TRUE(shuffled_indices(0, a).empty());
  EXPECT_EQ(shuffled_indices(1, a), (std::vector<int64_t>{0}));
}

TEST(ShuffledIndices, AllOrdersOfThreeAreEquallyLikely) {
  Generator gen(7);
  std::map<std::vector<int64_t>, int> seen;
  constexpr int kDraws = 60000;
  for (int i = 0; i < kDraws; ++i) ++seen[shuffled_indices(3, gen)];
  ASSERT_EQ(seen.size(), 6u);
  for (const auto& [order, count] : seen) EXPECT_NEAR(count, kDraws / 6, 400);  // ~4.4 sigma
}

// ---- KJV text ----------------------------------------------------------------------------------

// Sets an environment variable for one scope and restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { had_ ? ::setenv(name_, old_.c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

const std::string& kjv() {
  static const std::string text = load_kjv_text();
  return text;
}

TEST(Kjv, NormalisedTextIsTheWholeBibleWithoutVerseNumbers) {
  const std::string& t = kjv();
  EXPECT_GT(t.size(), 4'000'000u);
  EXPECT_EQ(t.rfind("Genesis 1\n\nIn the beginning God created the heaven and the earth.\n"
                    "And the earth was without form, and void;",
                    0),
            0u);
  EXPECT_NE(t.find("\nRevelation 22\n"), std::string::npos);
  EXPECT_EQ(t.substr(t.size() - 6), "Amen.\n");
  EXPECT_EQ(t.find("\n  1 "), std::string::npos);
  EXPECT_EQ(t.find("\n  "), std::string::npos) << "no line starts with the verse indent";
}

TEST(Kjv, NormaliseDropsOnlyVersePrefixes) {
  const std::string raw =
      "\nJohn 11\n\n  35 Jesus wept.\n  36 Then said the Jews, Behold how he\nloved him!\n";
  EXPECT_EQ(normalize_kjv_text(raw),
            "John 11\n\nJesus wept.\nThen said the Jews, Behold how he\nloved him!\n");
  EXPECT_EQ(normalize_kjv_text("  12x\n"), "  12x\n") << "not a verse prefix";
}

TEST(Kjv, CacheIsWrittenRepairedAndSparesTheSubprocess) {
  const fs::path dir = scratch_dir("kjv_cache");
  ScopedEnv cache_home("XDG_CACHE_HOME", dir.string());
  const std::string path = kjv_cache_path();
  EXPECT_EQ(path, (dir / "octet" / "kjv.txt").string());

  const std::string raw = load_kjv_raw();
  ASSERT_TRUE(fs::exists(path));
  EXPECT_EQ(fs::file_size(path), raw.size());
  EXPECT_EQ(normalize_kjv_text(raw), kjv());
  for (const auto& entry : fs::directory_iterator(dir / "octet")) {
    EXPECT_EQ(entry.path().filename(), "kjv.txt") << "temporary file left behind";
  }

  {  // With `bible` unreachable the cache alone must serve.
    ScopedEnv no_path("PATH", "/nonexistent");
    EXPECT_EQ(load_kjv_raw(), raw);
    fs::resize_file(path, 1000);  // a cut-off cache is not trusted
    expect_error([] { load_kjv_raw(); }, "kjv", {"install Debian's bible-kjv"});
  }
  EXPECT_EQ(load_kjv_raw(), raw);
  EXPECT_EQ(fs::file_size(path), raw.size()) << "the cut-off cache is rewritten";
}

// ---- TextDataset -------------------------------------------------------------------------------

TEST(TextDataset, SplitsNinetyTenByPosition) {
  const TextDataset small(std::string(1000, 'x'));
  EXPECT_EQ(small.size(Split::kTrain), 900);
  EXPECT_EQ(small.size(Split::kValidation), 100);
  EXPECT_EQ(small.begin(Split::kValidation), 900);

  const TextDataset bible(kjv());
  const auto n = static_cast<int64_t>(kjv().size());
  EXPECT_EQ(bible.size(Split::kTrain), n * 9 / 10);
  EXPECT_EQ(bible.size(Split::kTrain) + bible.size(Split::kValidation), n);
}

// Byte i is i mod 256, so every target must be its input plus one.
std::string counting_text(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i % 256);
  return s;
}

TEST(TextDataset, SampleIsDeterministicAndTargetsAreShiftedInputs) {
  const TextDataset data(counting_text(10000));
  std::vector<int64_t> x1, y1, x2, y2, x3, y3;
  Generator g1(5), g2(5), g3(6);
  data.sample(Split::kTrain, 8, 32, g1, x1, y1);
  data.sample(Split::kTrain, 8, 32, g2, x2, y2);
  data.sample(Split::kTrain, 8, 32, g3, x3, y3);
  ASSERT_EQ(x1.size(), 8u * 32);
  ASSERT_EQ(y1.size(), 8u * 32);
  EXPECT_EQ(x1, x2);
  EXPECT_EQ(y1, y2);
  EXPECT_NE(x1, x3);
  for (size_t i = 0; i < x1.size(); ++i) {
    ASSERT_EQ(y1[i], (x1[i] + 1) % 256);
    ASSERT_GE(x1[i], 0);
    ASSERT_LT(x1[i], TextDataset::kVocabSize);
  }
  Generator g4(5);
  for (int i = 0; i < 8; ++i) g4.next_u64();
  EXPECT_EQ(g1.state(), g4.state()) << "one draw per row";
}

TEST(TextDataset, SampledWindowsStayInsideTheirSplit) {
  // Train bytes are 'a', validation bytes 'b'; block = split size - 1 is the tightest fit.
  const TextDataset data(std::string(900, 'a') + std::string(100, 'b'));
  Generator gen(1);
  std::vector<int64_t> x, y;
  for (int rep = 0; rep < 50; ++rep) {
    data.sample(Split::kTrain, 4, 899, gen, x, y);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_TRUE(x[i] == 'a' && y[i] == 'a');
    data.sample(Split::kValidation, 4, 64, gen, x, y);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_TRUE(x[i] == 'b' && y[i] == 'b');
  }
  expect_error([&] { data.sample(Split::kValidation, 1, 100, gen, x, y); }, "text",
               {"needs at least 101 bytes", "validation split has 100"});
}

TEST(TextDataset, EvalWindowsTileTheSplitWithoutOverlap) {
  const TextDataset data(counting_text(10000));
  for (Split split : {Split::kTrain, Split::kValidation}) {
    const auto all = data.eval_windows(split, 64);
    EXPECT_EQ(static_cast<int64_t>(all.size()), (data.size(split) - 1) / 64);
    for (size_t i = 0; i < all.size(); ++i) {
      EXPECT_EQ(all[i].second - all[i].first, 64);
      EXPECT_GE(all[i].first, data.begin(split));
      EXPECT_LT(all[i].second, data.end(split)) << "the last target must be in the split";
      if (i > 0) {
        EXPECT_EQ(all[i].first, all[i - 1].second);
      }
    }
    const auto capped = data.eval_windows(split, 64, 5);
    ASSERT_EQ(capped.size(), 5u);
    EXPECT_EQ(capped, data.eval_windows(split, 64, 5));
    EXPECT_EQ(capped.front(), all.front());
    EXPECT_GT(capped.back().first, data.begin(split) + data.size(split) / 2) << "spread out";
    for (size_t i = 1; i < capped.size(); ++i) EXPECT_GE(capped[i].first, capped[i - 1].second);

    std::vector<int64_t> x, y;
    data.gather(capped, x, y);
    ASSERT_EQ(x.size(), 5u * 64);
    for (size_t r = 0; r < capped.size(); ++r) {
      EXPECT_EQ(x[r * 64], capped[r].first % 256);
      for (size_t t = 0; t < 64; ++t) ASSERT_EQ(y[r * 64 + t], (x[r * 64 + t] + 1) % 256);
    }
  }
  EXPECT_EQ(data.eval_windows(Split::kValidation, 5000).size(), 0u);
}

// In-sample cross-entropy of a maximum-likelihood trigram model: a sanity number for the corpus
// (the brief expects about 1.7 nats/byte) that a trained byte-level model should approach.
TEST(TextDataset, TrigramCrossEntropyOfKjvTrainSplit) {
  const TextDataset data(kjv());
  const auto* t = reinterpret_cast<const uint8_t*>(data.bytes().data());
  const int64_t n = data.size(Split::kTrain);
  std::vector<uint32_t> tri(1 << 24), bi(1 << 16);
  for (int64_t i = 0; i + 2 < n; ++i) {
    ++tri[(t[i] << 16) | (t[i + 1] << 8) | t[i + 2]];
    ++bi[(t[i] << 8) | t[i + 1]];
  }
  double nats = 0;
  for (int64_t i = 0; i + 2 < n; ++i) {
    nats -= std::log(static_cast<double>(tri[(t[i] << 16) | (t[i + 1] << 8) | t[i + 2]]) /
                     bi[(t[i] << 8) | t[i + 1]]);
  }
  const double per_byte = nats / static_cast<double>(n - 2);
  std::printf("trigram in-sample cross-entropy, KJV train split (%lld bytes): %.4f nats/byte\n",
              static_cast<long long>(n), per_byte);
  EXPECT_GT(per_byte, 1.6);
  EXPECT_LT(per_byte, 1.85);
}

}  // namespace
}  // namespace octet
