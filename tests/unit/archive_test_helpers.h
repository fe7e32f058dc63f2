#pragma once
// Shared by the archive tests: views over plain buffers, raw file access, a temp directory per
// test, and a small sample archive with awkward sizes.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "framework/io/archive.h"
#include "ops/error.h"

namespace octet::io::testing_helpers {

namespace fs = std::filesystem;

inline View view_of(void* data, DType dtype, Shape shape) {
  View v;
  v.data = data;
  v.dtype = dtype;
  v.strides = contiguous_strides(shape);
  v.shape = std::move(shape);
  return v;
}

inline View strided_view(void* data, DType dtype, Shape shape, Shape strides) {
  View v = view_of(data, dtype, std::move(shape));
  v.strides = std::move(strides);
  return v;
}

template <typename T>
std::vector<T> values_of(const View& v) {
  EXPECT_TRUE(v.is_contiguous());
  const T* p = v.ptr<T>();
  return std::vector<T>(p, p + v.numel());
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline uint64_t le(const std::string& bytes, size_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t(uint8_t(bytes[at + i])) << (8 * i);
  return v;
}

// Runs `fn`, expects an archive error, and returns its message for further checks.
inline std::string archive_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.op(), "archive") << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected an octet::Error";
  return "";
}

#define EXPECT_HAS(message, part)                    \
  EXPECT_NE((message).find(part), std::string::npos) \
      << "'" << (message) << "' lacks '" << (part) << "'"

class ArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/octet_archive_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  std::vector<std::string> dir_entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  // Three tensors of awkward sizes (so padding is needed) and a little metadata.
  std::string write_sample(const std::string& name) {
    a_.assign(5, 0);
    std::iota(a_.begin(), a_.end(), 1.5f);
    b_.resize(37);
    std::iota(b_.begin(), b_.end(), uint8_t{3});
    c_ = {-4, 8, -15, 16, 23, 42};
    std::string path = file(name);
    write_archive(path,
                  {{"blocks.0.attn.qkv.weight", view_of(a_.data(), DType::f32, {5})},
                   {"blocks.0.mlp.bias", view_of(b_.data(), DType::u8, {37})},
                   {"step_ids", view_of(c_.data(), DType::i64, {2, 3})}},
                  {{"step", "1200"}});
    return path;
  }

  std::string dir_;
  std::vector<float> a_;
  std::vector<uint8_t> b_;
  std::vector<int64_t> c_;
};

}  // namespace octet::io::testing_helpers
