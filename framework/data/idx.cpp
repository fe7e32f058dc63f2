#include "framework/data/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include "ops/error.h"

namespace octet {
namespace {

constexpr uint8_t kUnsignedByte = 0x08;
constexpr size_t kMagicBytes = 4;

const char* idx_type_name(uint8_t code) {
  switch (code) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "int16";
    case 0x0C:
      return "int32";
    case 0x0D:
      return "float32";
    case 0x0E:
      return "float64";
    default:
      return "unknown";
  }
}

std::string hex_byte(uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", b);
  return buf;
}

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

// Decompresses (or copies, for plain files) the whole file. gzread passes non-gzip input through
// unchanged, so one code path serves both.
std::vector<uint8_t> read_whole_file(const std::string& path) {
  errno = 0;
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  OCTET_CHECK(file != nullptr, "idx", path,
              ": cannot open: ", errno != 0 ? std::strerror(errno) : "out of memory");
  gzbuffer(file.get(), 1 << 17);
  std::vector<uint8_t> bytes;
  constexpr size_t kChunk = 1 << 20;
  for (;;) {
    const size_t old_size = bytes.size();
    bytes.resize(old_size + kChunk);
    const int got = gzread(file.get(), bytes.data() + old_size, kChunk);
    if (got < 0) {
      int code = 0;
      const char* msg = gzerror(file.get(), &code);
      throw Error("idx", detail::concat(path, ": read failed after ", old_size,
                                        " decompressed bytes: ", msg));
    }
    bytes.resize(old_size + static_cast<size_t>(got));
    if (got == 0) break;
  }
  // A gzip stream cut short reads as end-of-file with Z_BUF_ERROR rather than as a failure.
  int code = Z_OK;
  const char* msg = gzerror(file.get(), &code);
  OCTET_CHECK(code == Z_OK, "idx", path, ": compressed stream is damaged after ", bytes.size(),
              " decompressed bytes: ", msg);
  return bytes;
}

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

int64_t IdxArray::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

IdxArray parse_idx(std::vector<uint8_t> bytes, const std::string& name) {
  OCTET_CHECK(bytes.size() >= kMagicBytes, "idx", name,
              ": header truncated at byte 0 (magic): expected 4 bytes got ", bytes.size());
  OCTET_CHECK(bytes[0] == 0 && bytes[1] == 0, "idx", name, ": bad magic at byte 0: expected ",
              "00 00 <type> <ndims>, got ", hex_byte(bytes[0]), " ", hex_byte(bytes[1]), " ",
              hex_byte(bytes[2]), " ", hex_byte(bytes[3]), " (not an IDX file?)");
  const uint8_t type = bytes[2];
  OCTET_CHECK(type == kUnsignedByte, "idx", name, ": byte 2 (element type) is ", hex_byte(type),
              " (", idx_type_name(type), "); only unsigned byte (0x08) is supported");
  const int ndims = bytes[3];
  OCTET_CHECK(ndims >= 1, "idx", name, ": byte 3 (ndims) is 0; an IDX array needs >= 1 dim");

  const size_t header = kMagicBytes + 4 * static_cast<size_t>(ndims);
  OCTET_CHECK(bytes.size() >= header, "idx", name, ": header truncated at byte ", bytes.size(),
              " (dims): expected ", header, " bytes got ", bytes.size());

  IdxArray out;
  out.dims.reserve(ndims);
  uint64_t count = 1;
  for (int i = 0; i < ndims; ++i) {
    const uint32_t d = big_endian_u32(bytes.data() + kMagicBytes + 4 * i);
    OCTET_CHECK(d == 0 || count <= std::numeric_limits<uint64_t>::max() / d / 2, "idx", name,
                ": dims at byte ", kMagicBytes, ": element count overflows 64 bits");
    count *= d;
    out.dims.push_back(static_cast<int64_t>(d));
  }
  const size_t body = bytes.size() - header;
  OCTET_CHECK(body >= count, "idx", name, ": data truncated at byte offset ", bytes.size(),
              ": expected ", count, " data bytes after the ", header, "-byte header got ", body);
  OCTET_CHECK(body == count, "idx", name, ": trailing garbage at byte offset ", header + count,
              ": expected ", count, " data bytes after the ", header, "-byte header got ", body,
              " (", body - count, " extra)");
  // Shifting the body down reuses the buffer instead of holding two copies of a 47 MB file.
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header));
  out.data = std::move(bytes);
  return out;
}

IdxArray read_idx(const std::string& path) { return parse_idx(read_whole_file(path), path); }

}  // namespace octet
