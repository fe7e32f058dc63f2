// The tensor archive: round trips of every kind of view, the on-disk layout, metadata, and atomic
// replacement (a failed or invalid write never touches an existing file nor leaves a temp file).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <zlib.h>

#include <csignal>
#include <cstring>

#include "proto/archive.pb.h"
#include "tests/unit/archive_test_helpers.h"

namespace octet::io {
namespace {

using namespace testing_helpers;

TEST_F(ArchiveTest, RoundTripsDtypesScalarEmptyAndStridedViews) {
  std::vector<float> f32 = {1.f, -2.5f, 3.25f, 1e-30f, 7.f, -0.f};
  std::vector<double> f64 = {3.141592653589793, -1e300, 5e-324};
  std::vector<int64_t> i64 = {INT64_MIN, -1, 0, INT64_MAX};
  std::vector<uint8_t> u8 = {0, 1, 127, 128, 255};
  std::vector<uint16_t> bf16;
  for (float x : {1.f, -0.5f, 3.f, 1e20f}) bf16.push_back(f32_to_bf16(x));
  float scalar = 42.5f;
  std::vector<float> base(12);  // 3x4, row-major
  std::iota(base.begin(), base.end(), 0.f);
  std::vector<int64_t> wide(12);  // 2x6, every other column taken below
  std::iota(wide.begin(), wide.end(), int64_t{100});

  const std::string path = file("round.ckpt");
  write_archive(path, {{"f32", view_of(f32.data(), DType::f32, {2, 3})},
                       {"f64", view_of(f64.data(), DType::f64, {3})},
                       {"i64", view_of(i64.data(), DType::i64, {2, 2})},
                       {"u8", view_of(u8.data(), DType::u8, {5})},
                       {"bf16", view_of(bf16.data(), DType::bf16, {2, 2})},
                       {"scalar", view_of(&scalar, DType::f32, {})},
                       {"empty", view_of(nullptr, DType::f32, {0, 4})},
                       {"transposed", strided_view(base.data(), DType::f32, {4, 3}, {1, 4})},
                       {"odd_columns", strided_view(wide.data() + 1, DType::i64, {2, 3}, {6, 2})}});

  Archive moved_from = Archive::open(path);
  Archive ar = std::move(moved_from);  // movable, and the mapping follows the move
  EXPECT_EQ(ar.path(), path);
  EXPECT_EQ(ar.names(), (std::vector<std::string>{"f32", "f64", "i64", "u8", "bf16", "scalar",
                                                  "empty", "transposed", "odd_columns"}));
  EXPECT_TRUE(ar.contains("bf16"));
  EXPECT_FALSE(ar.contains("bf"));
  EXPECT_EQ(values_of<float>(ar.view("f32")), f32);
  EXPECT_EQ(ar.shape("f32"), (Shape{2, 3}));
  EXPECT_EQ(ar.dtype("f64"), DType::f64);
  EXPECT_EQ(values_of<double>(ar.view("f64")), f64);
  EXPECT_EQ(values_of<int64_t>(ar.view("i64")), i64);
  EXPECT_EQ(values_of<uint8_t>(ar.view("u8")), u8);
  EXPECT_EQ(ar.dtype("bf16"), DType::bf16);
  EXPECT_EQ(values_of<uint16_t>(ar.view("bf16")), bf16);
  EXPECT_EQ(bf16_to_f32(ar.view("bf16").ptr<uint16_t>()[3]), bf16_to_f32(f32_to_bf16(1e20f)));

  View s = ar.view("scalar");
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(*s.ptr<float>(), 42.5f);
  View e = ar.view("empty");
  EXPECT_EQ(e.shape, (Shape{0, 4}));
  EXPECT_EQ(e.numel(), 0);

  View t = ar.view("transposed");
  EXPECT_EQ(t.shape, (Shape{4, 3}));
  EXPECT_EQ(t.strides, (Shape{3, 1}));
  std::vector<float> expect_t;
  for (int j = 0; j < 4; ++j)
    for (int i = 0; i < 3; ++i) expect_t.push_back(base[i * 4 + j]);
  EXPECT_EQ(values_of<float>(t), expect_t);
  EXPECT_EQ(values_of<int64_t>(ar.view("odd_columns")),
            (std::vector<int64_t>{101, 103, 105, 107, 109, 111}));

  for (const std::string& name : ar.names()) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(ar.view(name).data) % 64, 0u) << name;
    EXPECT_EQ(ar.record(name).offset % 64, 0u) << name;
  }
  EXPECT_NO_THROW(ar.verify_all());
}

// Views bigger than the writer's staging buffer: many row groups, and rows longer than it.
TEST_F(ArchiveTest, LargeStridedViewsAreGatheredInRowMajorOrder) {
  std::vector<float> base(2048 * 1030);  // 2048 x 1030, viewed as a transposed 1027 x 2048 slice
  for (size_t i = 0; i < base.size(); ++i) base[i] = static_cast<float>(i);
  std::vector<uint8_t> bytes(2 * 6'000'000);  // two interleaved rows of 6 MB each
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + i / 251);
  std::vector<uint16_t> cube(5 * 6 * 7);  // permuted (2, 0, 1)
  std::iota(cube.begin(), cube.end(), uint16_t{0});

  const std::string path = file("strided.ckpt");
  write_archive(path, {{"t", strided_view(base.data() + 2, DType::f32, {1027, 2048}, {1, 1030})},
                       {"long", strided_view(bytes.data(), DType::u8, {2, 6'000'000}, {1, 2})},
                       {"perm", strided_view(cube.data(), DType::bf16, {7, 5, 6}, {1, 42, 7})}});
  Archive ar = Archive::open(path);
  const float* t = ar.view("t").ptr<float>();
  for (int64_t i = 0; i < 1027; ++i)
    for (int64_t j = 0; j < 2048; ++j)
      ASSERT_EQ(t[i * 2048 + j], base[j * 1030 + i + 2]) << i << "," << j;
  const uint8_t* l = ar.view("long").ptr<uint8_t>();
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t j = 0; j < 6'000'000; ++j) ASSERT_EQ(l[r * 6'000'000 + j], bytes[j * 2 + r]);
  const uint16_t* p = ar.view("perm").ptr<uint16_t>();
  for (int64_t a = 0; a < 7; ++a)
    for (int64_t b = 0; b < 5; ++b)
      for (int64_t c = 0; c < 6; ++c) ASSERT_EQ(p[(a * 5 + b) * 6 + c], cube[b * 42 + c * 7 + a]);
  EXPECT_NO_THROW(ar.verify_all());
}

TEST_F(ArchiveTest, OnDiskLayoutMatchesTheFormat) {
  const std::string path = write_sample("layout.ckpt");
  const std::string bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 24u);
  EXPECT_EQ(bytes.substr(0, 8), "OCTETARC");
  EXPECT_EQ(le(bytes, 8, 4), 1u);
  const uint64_t header_len = le(bytes, 16, 8);
  const std::string header_bytes = bytes.substr(24, header_len);
  EXPECT_EQ(le(bytes, 12, 4),
            ::crc32(0, reinterpret_cast<const Bytef*>(header_bytes.data()), header_len));
  proto::ArchiveHeader header;
  ASSERT_TRUE(header.ParseFromString(header_bytes));
  ASSERT_EQ(header.tensors_size(), 3);
  EXPECT_EQ(header.metadata().at("step"), "1200");

  const uint64_t data_start = (24 + header_len + 63) / 64 * 64;
  for (size_t i = 24 + header_len; i < data_start; ++i) EXPECT_EQ(bytes[i], 0) << i;
  uint64_t end_of_previous = data_start;
  for (const auto& rec : header.tensors()) {
    EXPECT_EQ(rec.offset() % 64, 0u) << rec.name();
    EXPECT_GE(rec.offset(), end_of_previous) << rec.name();
    EXPECT_LT(rec.offset(), end_of_previous + 64) << rec.name();  // no more padding than needed
    const auto* blob = reinterpret_cast<const Bytef*>(bytes.data() + rec.offset());
    EXPECT_EQ(rec.crc32(), ::crc32(0, blob, rec.nbytes())) << rec.name();
    end_of_previous = rec.offset() + rec.nbytes();
  }
  EXPECT_EQ(header.tensors(0).dtype(), "f32");
  EXPECT_EQ(header.tensors(2).shape().size(), 2);
  EXPECT_EQ(std::memcmp(bytes.data() + header.tensors(0).offset(), a_.data(), 20), 0);
  EXPECT_EQ(bytes.size(), end_of_previous);
}

TEST_F(ArchiveTest, MetadataRoundTripsBinaryBytes) {
  std::string binary("\0\x01\xff\xfe rng\0state", 14);
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + 7);
  const std::map<std::string, std::string> meta = {
      {"rng", binary}, {"big", big}, {"empty", ""}, {"config", "lr: 3e-4\nsteps: 1000\n"}};
  const std::string path = file("meta.ckpt");
  write_archive(path, {}, meta);
  Archive ar = Archive::open(path);
  EXPECT_TRUE(ar.names().empty());
  EXPECT_EQ(ar.metadata(), meta);
}

TEST_F(ArchiveTest, SameInputsGiveTheSameBytes) {
  std::vector<int32_t> v = {5, 6, 7};
  std::map<std::string, std::string> meta;
  for (int i = 0; i < 50; ++i) meta["key" + std::to_string(i * 7919 % 1000)] = std::to_string(i);
  write_archive(file("a.arc"), {{"v", view_of(v.data(), DType::i32, {3})}}, meta);
  write_archive(file("b.arc"), {{"v", view_of(v.data(), DType::i32, {3})}}, meta);
  EXPECT_EQ(read_bytes(file("a.arc")), read_bytes(file("b.arc")));
}

TEST_F(ArchiveTest, WritingIntoAMissingDirectoryFailsAndLeavesNoTempFile) {
  float x = 1.f;
  const std::string path = file("no/such/dir/x.ckpt");
  std::string msg = archive_error([&] {
    write_archive(path, {{"x", view_of(&x, DType::f32, {})}});
  });
  EXPECT_HAS(msg, path + ": cannot open for writing");
  EXPECT_HAS(msg, std::strerror(ENOENT));
  EXPECT_TRUE(dir_entries().empty());
}

TEST_F(ArchiveTest, InvalidInputsAreRejectedBeforeTouchingTheDisk) {
  const std::string path = write_sample("keep.ckpt");
  const std::string before = read_bytes(path);
  float x = 1.f;
  std::string msg = archive_error([&] {
    write_archive(path, {{"w", view_of(&x, DType::f32, {})}, {"w", view_of(&x, DType::f32, {})}});
  });
  EXPECT_HAS(msg, path + ": tensor 'w': duplicate tensor name");
  View on_gpu = view_of(&x, DType::f32, {});
  on_gpu.device = Device{DeviceType::cuda, 0};
  EXPECT_HAS(archive_error([&] {
               write_archive(path, {{"g", on_gpu}});
             }),
             "tensor 'g': only cpu tensors can be written (got cuda:0)");
  EXPECT_HAS(archive_error([&] {
               write_archive(path, {{"", view_of(&x, DType::f32, {})}});
             }),
             "empty tensor name");
  EXPECT_HAS(archive_error([&] {
               write_archive(path, {{"\xff\xfe", view_of(&x, DType::f32, {})}});
             }),
             "not valid UTF-8");
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir_entries(), (std::vector<std::string>{"keep.ckpt"}));
}

TEST_F(ArchiveTest, OverwritingReplacesTheFileAtomically) {
  const std::string path = write_sample("model.ckpt");
  Archive old_archive = Archive::open(path);
  struct stat old_stat {};
  ASSERT_EQ(::stat(path.c_str(), &old_stat), 0);

  std::vector<double> replacement = {9.0, 8.0};
  write_archive(path, {{"w", view_of(replacement.data(), DType::f64, {2})}}, {{"step", "1300"}});

  // A new inode took the name; the old mapping still sees the complete old file.
  struct stat new_stat {};
  ASSERT_EQ(::stat(path.c_str(), &new_stat), 0);
  EXPECT_NE(old_stat.st_ino, new_stat.st_ino);
  EXPECT_EQ(values_of<float>(old_archive.view("blocks.0.attn.qkv.weight")), a_);
  Archive fresh = Archive::open(path);
  EXPECT_EQ(fresh.names(), std::vector<std::string>{"w"});
  EXPECT_EQ(values_of<double>(fresh.view("w")), replacement);
  EXPECT_EQ(fresh.metadata().at("step"), "1300");
  EXPECT_EQ(dir_entries(), (std::vector<std::string>{"model.ckpt"}));
}

TEST_F(ArchiveTest, WriteFailingHalfwayLeavesTheOldFileAndNoTempFile) {
  const std::string path = write_sample("model.ckpt");
  const std::string before = read_bytes(path);
  std::vector<float> big(1 << 16, 1.f);  // 256 KiB, over the file size limit below

  // A file size limit makes write() fail with EFBIG partway through the data.
  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 64 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string msg = archive_error([&] {
    write_archive(path, {{"big", view_of(big.data(), DType::f32, {1 << 16})}});
  });
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
  std::signal(SIGXFSZ, old_handler);

  EXPECT_HAS(msg, path + ": write failed at byte ");
  EXPECT_HAS(msg, std::strerror(EFBIG));
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir_entries(), (std::vector<std::string>{"model.ckpt"}));
}

TEST_F(ArchiveTest, RelativePathIsWrittenInTheCurrentDirectory) {
  const fs::path saved = fs::current_path();
  fs::current_path(dir_);
  std::vector<int32_t> v = {1, 2, 3};
  write_archive("relative.ckpt", {{"v", view_of(v.data(), DType::i32, {3})}});
  fs::current_path(saved);
  EXPECT_EQ(values_of<int32_t>(Archive::open(file("relative.ckpt")).view("v")), v);
}

}  // namespace
}  // namespace octet::io
