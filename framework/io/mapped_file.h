#pragma once
// A whole file mapped read-only into memory. Writers replace archives by rename (atomic_file.h),
// never in place, so the mapped inode stays valid even while a newer file takes over the name.
#include <cstddef>
#include <cstdint>
#include <string>

namespace octet::io {

class MappedFile {
 public:
  MappedFile() = default;
  // Throws octet::Error tagged `area` naming `path` and the reason (with strerror).
  static MappedFile open_read_only(const std::string& path, const std::string& area);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }  // nullptr for an empty file
  size_t size() const { return size_; }

 private:
  void unmap() noexcept;

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace octet::io
