// The tensor archive on damaged input: truncation at any point, flipped bytes in data, header
// and prefix, foreign files, missing files and names. Every error names the file, the tensor
// when one is concerned, and the reason.
#include <gtest/gtest.h>

#include <cstring>

#include "tests/unit/archive_test_helpers.h"

namespace octet::io {
namespace {

using namespace testing_helpers;

class ArchiveCorruptionTest : public ArchiveTest {};

TEST_F(ArchiveCorruptionTest, TruncatedFileNamesFileAndTensorOrHeader) {
  const std::string path = write_sample("full.ckpt");
  const std::string bytes = read_bytes(path);
  const Archive full = Archive::open(path);
  const uint64_t header_end = 24 + le(bytes, 16, 8);
  const std::string cut_path = file("cut.ckpt");

  for (uint64_t cut : {uint64_t{0}, uint64_t{3}, uint64_t{12}, uint64_t{23}, uint64_t{24},
                       header_end / 2 + 12, header_end - 1}) {
    write_bytes(cut_path, bytes.substr(0, cut));
    std::string msg = archive_error([&] { Archive::open(cut_path); });
    EXPECT_HAS(msg, cut_path);
    EXPECT_HAS(msg, "header truncated");
  }
  std::vector<uint64_t> cuts;
  for (const std::string& name : full.names()) {
    const TensorRecord& rec = full.record(name);
    cuts.insert(cuts.end(),
                {rec.offset - 1, rec.offset, rec.offset + 1, rec.offset + rec.nbytes - 1});
  }
  for (uint64_t cut : cuts) {
    if (cut < header_end) continue;
    // The first record that does not fit is the one the message must name.
    const TensorRecord* expected = nullptr;
    for (const std::string& name : full.names())
      if (!expected && full.record(name).offset + full.record(name).nbytes > cut)
        expected = &full.record(name);
    ASSERT_NE(expected, nullptr);
    write_bytes(cut_path, bytes.substr(0, cut));
    std::string msg = archive_error([&] { Archive::open(cut_path); });
    EXPECT_HAS(msg, cut_path);
    EXPECT_HAS(msg, "tensor '" + expected->name + "': data truncated (file has " +
                        std::to_string(cut) + " bytes, record needs " +
                        std::to_string(expected->nbytes) + " at offset " +
                        std::to_string(expected->offset) + ")");
  }
}

TEST_F(ArchiveCorruptionTest, FlippedDataByteIsAChecksumErrorNamingTheTensor) {
  const std::string path = write_sample("flip.ckpt");
  std::string bytes = read_bytes(path);
  const uint64_t offset = Archive::open(path).record("blocks.0.mlp.bias").offset;
  bytes[offset + 20] ^= 0x04;
  write_bytes(path, bytes);

  Archive ar = Archive::open(path);  // blob crcs are checked lazily
  EXPECT_EQ(values_of<float>(ar.view("blocks.0.attn.qkv.weight")), a_);
  for (int attempt = 0; attempt < 2; ++attempt) {  // a failed check is not remembered as passed
    std::string msg = archive_error([&] { ar.view("blocks.0.mlp.bias"); });
    EXPECT_HAS(msg, path + ": tensor 'blocks.0.mlp.bias': checksum mismatch (stored 0x");
    EXPECT_HAS(msg, ", computed 0x");
  }
  EXPECT_HAS(archive_error([&] { ar.verify_all(); }), "blocks.0.mlp.bias");
}

TEST_F(ArchiveCorruptionTest, EveryFlippedPrefixOrHeaderByteIsDetected) {
  const std::string path = write_sample("good.ckpt");
  const std::string bytes = read_bytes(path);
  const uint64_t header_end = 24 + le(bytes, 16, 8);
  const std::string bad = file("bad.ckpt");
  for (uint64_t i = 0; i < header_end; ++i) {
    std::string corrupt = bytes;
    corrupt[i] ^= 0x10;
    write_bytes(bad, corrupt);
    std::string msg = archive_error([&] { Archive::open(bad); });
    EXPECT_HAS(msg, bad + ": ");
    if (i < 8) {
      EXPECT_HAS(msg, "not an octet archive (bad magic)");
    }
    if (i >= 24) {
      EXPECT_HAS(msg, "header corrupted (crc mismatch: stored 0x");
    }
  }
}

TEST_F(ArchiveCorruptionTest, BadMagicUnsupportedVersionAndMissingFile) {
  const std::string text = file("notes.txt");
  write_bytes(text, "just some text, long enough to hold a prefix\n");
  EXPECT_HAS(archive_error([&] { Archive::open(text); }),
             text + ": not an octet archive (bad magic)");

  const std::string path = write_sample("v.ckpt");
  std::string bytes = read_bytes(path);
  bytes[8] = 7;
  write_bytes(path, bytes);
  EXPECT_HAS(archive_error([&] { Archive::open(path); }), path + ": unsupported version 7");

  const std::string missing = file("nope.ckpt");
  std::string msg = archive_error([&] { Archive::open(missing); });
  EXPECT_HAS(msg, missing + ": cannot open for reading");
  EXPECT_HAS(msg, std::strerror(ENOENT));
}

TEST_F(ArchiveCorruptionTest, UnknownTensorNameIsAnError) {
  const std::string path = write_sample("names.ckpt");
  Archive ar = Archive::open(path);
  for (auto fn : std::vector<std::function<void()>>{
           [&] { ar.view("foo"); }, [&] { ar.dtype("foo"); }, [&] { ar.shape("foo"); }})
    EXPECT_HAS(archive_error(fn), path + ": no tensor named 'foo'");
}

}  // namespace
}  // namespace octet::io
