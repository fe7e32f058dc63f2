#pragma once
// Crash-safe file replacement: the bytes go to "<path>.tmp.<pid>" in the same directory, which is
// fsync'd and renamed over `path` by commit(); the directory is fsync'd so the rename itself
// survives a power cut. Until commit() succeeds an existing file at `path` is never touched, and
// a writer destroyed without commit() (an exception unwinding) removes its temp file.
// The temp name carries only the pid, so one process writes a given path from one thread at a time.
#include <cstddef>
#include <string>

namespace octet::io {

class AtomicFile {
 public:
  // `area` tags the octet::Error thrown on failure ("archive", ...); every message names `path`.
  AtomicFile(std::string path, std::string area);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t nbytes);
  void write_zeros(size_t nbytes);
  // Overwrites bytes already written (e.g. a header whose checksums are known only at the end).
  void write_at(size_t offset, const void* data, size_t nbytes);
  size_t bytes_written() const { return written_; }
  void commit();  // fsync, close, rename over path, fsync the directory

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  [[noreturn]] void fail(const std::string& what, int err) const;
  void discard() noexcept;

  std::string path_;
  std::string area_;
  std::string temp_path_;
  int fd_ = -1;
  size_t written_ = 0;
  bool committed_ = false;
};

}  // namespace octet::io
