#pragma once
// Reader for the IDX format of (Fashion-)MNIST: magic 00 00 <type> <ndims>, then ndims big-endian
// uint32 sizes, then the elements row-major. Files may be gzip-compressed or plain; zlib reads
// both. Only the unsigned-byte element type (0x08) is supported, which is all MNIST-like sets use.
// Plain buffers, no Tensor: the data layer sits beside Tensor, not above it.
#include <cstdint>
#include <string>
#include <vector>

namespace octet {

struct IdxArray {
  std::vector<int64_t> dims;  // outermost first, e.g. {60000, 28, 28}
  std::vector<uint8_t> data;  // product(dims) bytes, row-major

  int64_t numel() const;
};

// Reads and validates a whole IDX file. Throws octet::Error (area "idx") naming the file, the
// byte offset or field, and the reason: missing file, bad magic, unsupported type, truncated
// header or data ("expected N bytes got M"), trailing bytes, corrupt gzip stream.
IdxArray read_idx(const std::string& path);

// Parses IDX bytes already in memory; `name` is used in error messages in place of a path.
IdxArray parse_idx(std::vector<uint8_t> bytes, const std::string& name);

}  // namespace octet
