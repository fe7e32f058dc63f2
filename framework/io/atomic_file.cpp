#include "framework/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ops/error.h"

namespace octet::io {

namespace {

std::string directory_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

AtomicFile::AtomicFile(std::string path, std::string area)
    : path_(std::move(path)), area_(std::move(area)) {
  temp_path_ = path_ + ".tmp." + std::to_string(::getpid());
  // O_TRUNC rather than O_EXCL: a leftover of a crashed process that had our pid is garbage.
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot open for writing (temp file " + temp_path_ + ")", errno);
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(temp_path_.c_str());
}

void AtomicFile::fail(const std::string& what, int err) const {
  throw Error(area_, path_ + ": " + what + ": " + std::strerror(err));
}

void AtomicFile::write(const void* data, size_t nbytes) {
  const char* p = static_cast<const char*>(data);
  while (nbytes > 0) {
    // Linux moves at most ~2 GiB per call; a loop also covers short writes and signals.
    ssize_t n = ::write(fd_, p, std::min<size_t>(nbytes, size_t{1} << 30));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write failed at byte " + std::to_string(written_), errno);
    p += n;
    nbytes -= static_cast<size_t>(n);
    written_ += static_cast<size_t>(n);
  }
}

void AtomicFile::write_zeros(size_t nbytes) {
  static const char zeros[4096] = {};
  while (nbytes > 0) {
    size_t n = std::min(nbytes, sizeof(zeros));
    write(zeros, n);
    nbytes -= n;
  }
}

void AtomicFile::write_at(size_t offset, const void* data, size_t nbytes) {
  OCTET_CHECK(offset + nbytes <= written_, area_, path_, ": write_at past the end of the data");
  const char* p = static_cast<const char*>(data);
  while (nbytes > 0) {
    ssize_t n = ::pwrite(fd_, p, std::min<size_t>(nbytes, size_t{1} << 30), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write failed at byte " + std::to_string(offset), errno);
    p += n;
    offset += static_cast<size_t>(n);
    nbytes -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) fail("fsync failed", errno);
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("close failed", errno);
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail("rename of temp file failed", errno);
  committed_ = true;
  // The file is in place now; syncing the directory makes the new name durable. Filesystems that
  // cannot sync a directory (EINVAL) give no stronger guarantee to ask for, so that is not an
  // error.
  int dir = ::open(directory_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) fail("cannot open directory to fsync it", errno);
  int rc = ::fsync(dir);
  int err = errno;
  ::close(dir);
  if (rc != 0 && err != EINVAL) fail("fsync of directory failed", err);
}

}  // namespace octet::io
