// Archive: opening validates everything that is cheap to validate (the fixed prefix, the header
// crc, every record against the file's size); blob checksums wait for the first view().
#include "framework/io/archive.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>

#include "framework/io/archive_format.h"
#include "ops/error.h"
#include "proto/archive.pb.h"

namespace octet::io {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& tensor,
                       const std::string& reason) {
  std::string where = tensor.empty() ? path + ": " : path + ": tensor '" + tensor + "': ";
  throw Error("archive", where + reason);
}

std::string sz(uint64_t n) { return std::to_string(n); }

// Returns the header bytes after checking magic, version, length and crc.
std::string_view checked_header(const std::string& path, const MappedFile& file) {
  const uint8_t* p = file.data();
  const size_t size = file.size();
  const size_t magic_seen = std::min(size, sizeof(format::kMagic));
  if (magic_seen > 0 && std::memcmp(p, format::kMagic, magic_seen) != 0)
    fail(path, "", "not an octet archive (bad magic)");
  if (size < format::kPrefixSize)
    fail(path, "",
         "header truncated (file has " + sz(size) + " bytes, the fixed prefix needs " +
             sz(format::kPrefixSize) + ")");
  const format::Prefix prefix = format::decode_prefix(p);
  if (prefix.version != format::kVersion)
    fail(path, "",
         "unsupported version " + sz(prefix.version) + " (this build reads version " +
             sz(format::kVersion) + ")");
  if (prefix.header_length > size - format::kPrefixSize)
    fail(path, "",
         "header truncated (file has " + sz(size) + " bytes, header needs " +
             sz(prefix.header_length) + " at offset " + sz(format::kPrefixSize) + ")");
  const uint8_t* header = p + format::kPrefixSize;
  const uint32_t crc = format::crc32(header, prefix.header_length);
  if (crc != prefix.header_crc)
    fail(path, "",
         "header corrupted (crc mismatch: stored " + format::hex32(prefix.header_crc) +
             ", computed " + format::hex32(crc) + ")");
  return {reinterpret_cast<const char*>(header), prefix.header_length};
}

TensorRecord checked_record(const std::string& path, const proto::TensorRecord& rec,
                            uint64_t data_start, uint64_t file_size) {
  TensorRecord r;
  r.name = rec.name();
  if (r.name.empty()) fail(path, "", "header has a tensor with an empty name");
  try {
    r.dtype = dtype_from_name(rec.dtype());
  } catch (const Error&) {
    fail(path, r.name, "unknown dtype '" + rec.dtype() + "'");
  }
  // numel * dtype size must equal nbytes without overflowing on the way.
  uint64_t nbytes = dtype_size(r.dtype);
  for (int64_t d : rec.shape()) {
    if (d < 0) fail(path, r.name, "negative dimension " + std::to_string(d));
    r.shape.push_back(d);
    if (d != 0 && nbytes > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d))
      fail(path, r.name, "shape " + shape_str(r.shape) + " overflows");
    nbytes *= static_cast<uint64_t>(d);
  }
  r.offset = rec.offset();
  r.nbytes = rec.nbytes();
  r.crc32 = rec.crc32();
  if (nbytes != r.nbytes)
    fail(path, r.name,
         "record says " + sz(r.nbytes) + " bytes but " + rec.dtype() + shape_str(r.shape) +
             " needs " + sz(nbytes));
  if (!rec.has_crc32()) fail(path, r.name, "record has no checksum");
  if (r.offset % format::kAlignment != 0 || r.offset < data_start)
    fail(path, r.name,
         "bad offset " + sz(r.offset) + " (must be a multiple of " + sz(format::kAlignment) +
             " at or after " + sz(data_start) + ")");
  if (r.offset > file_size || r.nbytes > file_size - r.offset)
    fail(path, r.name,
         "data truncated (file has " + sz(file_size) + " bytes, record needs " + sz(r.nbytes) +
             " at offset " + sz(r.offset) + ")");
  return r;
}

}  // namespace

Archive::Archive(Archive&&) noexcept = default;
Archive& Archive::operator=(Archive&&) noexcept = default;
Archive::~Archive() = default;

Archive Archive::open(const std::string& path) {
  Archive a;
  a.path_ = path;
  a.file_ = MappedFile::open_read_only(path, "archive");
  const std::string_view header_bytes = checked_header(path, a.file_);

  proto::ArchiveHeader header;
  if (header_bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    fail(path, "", "header of " + sz(header_bytes.size()) + " bytes is too large to parse");
  if (!header.ParseFromArray(header_bytes.data(), static_cast<int>(header_bytes.size())))
    fail(path, "", "header corrupted (cannot parse; the crc matched, so it was written that way)");
  const uint64_t data_start = format::align_up(format::kPrefixSize + header_bytes.size());

  a.records_.reserve(header.tensors_size());
  for (const proto::TensorRecord& rec : header.tensors()) {
    TensorRecord r = checked_record(path, rec, data_start, a.file_.size());
    if (!a.index_.emplace(r.name, a.records_.size()).second)
      fail(path, r.name, "duplicate tensor name in header");
    a.names_.push_back(r.name);
    a.records_.push_back(std::move(r));
  }
  for (const auto& [key, value] : header.metadata()) a.metadata_.emplace(key, value);
  a.verified_ = std::make_unique<std::atomic<bool>[]>(a.records_.size());
  return a;
}

size_t Archive::index_of(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(path_, "", "no tensor named '" + name + "'");
  return it->second;
}

const TensorRecord& Archive::record(const std::string& name) const {
  return records_[index_of(name)];
}

void Archive::check_blob(size_t i) const {
  if (verified_[i].load(std::memory_order_acquire)) return;
  const TensorRecord& r = records_[i];
  const uint32_t crc = format::crc32(file_.data() + r.offset, r.nbytes);
  if (crc != r.crc32)
    fail(path_, r.name,
         "checksum mismatch (stored " + format::hex32(r.crc32) + ", computed " +
             format::hex32(crc) + ")");
  verified_[i].store(true, std::memory_order_release);
}

View Archive::view(const std::string& name) const {
  const size_t i = index_of(name);
  check_blob(i);
  const TensorRecord& r = records_[i];
  View v;
  // The mapping is read-only (PROT_READ); View has no const flavour, hence the cast.
  v.data = const_cast<uint8_t*>(file_.data() + r.offset);
  v.dtype = r.dtype;
  v.shape = r.shape;
  v.strides = contiguous_strides(r.shape);
  return v;
}

void Archive::verify_all() const {
  for (size_t i = 0; i < records_.size(); ++i) check_blob(i);
}

}  // namespace octet::io
