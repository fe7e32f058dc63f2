#pragma once
// The tensor archive: one container for checkpoints and exported int8/fp8 models. A protobuf
// header (names, dtypes, shapes, offsets, crc32s, metadata) followed by 64-byte-aligned raw
// blobs; the layout is documented in proto/archive.proto. Files are written atomically (temp
// file, fsync, rename) and read through a read-only mmap, so opening a multi-GB model is cheap
// and tensors are handed out zero-copy.
//
// Every failure is an octet::Error tagged "archive" naming the file, the tensor when one is
// concerned, and the reason: "[archive] /ck/a.ckpt: tensor 'fc.weight': checksum mismatch ...".
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "framework/io/mapped_file.h"
#include "ops/view.h"

namespace octet::io {

struct NamedView {
  std::string name;
  View view;  // any strides (transposed, sliced): stored contiguously in row-major order
};

// Writes `tensors` (cpu views, unique non-empty names) and `metadata` to `path`, replacing any
// existing file only once the new one is complete and synced.
void write_archive(const std::string& path, const std::vector<NamedView>& tensors,
                   const std::map<std::string, std::string>& metadata = {});

struct TensorRecord {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  uint64_t offset = 0;  // from the start of the file, multiple of 64
  uint64_t nbytes = 0;
  uint32_t crc32 = 0;
};

class Archive {
 public:
  // Validates magic, version, the header crc and every record (dtype, shape, alignment, bounds).
  // Blob checksums are verified lazily, on each tensor's first view().
  static Archive open(const std::string& path);

  Archive(Archive&&) noexcept;
  Archive& operator=(Archive&&) noexcept;
  Archive(const Archive&) = delete;
  Archive& operator=(const Archive&) = delete;
  ~Archive();

  const std::vector<std::string>& names() const { return names_; }  // in written order
  bool contains(const std::string& name) const { return index_.count(name) != 0; }

  // Zero-copy, contiguous, pointing into the read-only mapping: writing through it faults, so
  // copy before modifying. Valid while this Archive lives. Safe to call from several threads.
  View view(const std::string& name) const;
  DType dtype(const std::string& name) const { return record(name).dtype; }
  Shape shape(const std::string& name) const { return record(name).shape; }
  const TensorRecord& record(const std::string& name) const;
  void verify_all() const;  // checks every blob's crc32 now (for inspect tools, paranoid loads)

  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_.size(); }

 private:
  Archive() = default;
  size_t index_of(const std::string& name) const;
  void check_blob(size_t i) const;

  std::string path_;
  MappedFile file_;
  std::vector<TensorRecord> records_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  // One flag per record: set once its crc has matched. Two threads may both verify the same blob
  // the first time, which is harmless.
  std::unique_ptr<std::atomic<bool>[]> verified_;
};

}  // namespace octet::io
