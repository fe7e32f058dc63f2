#pragma once
// The fixed part of the archive layout (documented in proto/archive.proto), shared by the writer
// and the reader so the two cannot drift apart.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>

namespace octet::io::format {

// Blobs are stored as the host's bytes; the format promises little-endian.
static_assert(std::endian::native == std::endian::little, "archives store little-endian data");

inline constexpr char kMagic[8] = {'O', 'C', 'T', 'E', 'T', 'A', 'R', 'C'};
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kPrefixSize = 24;  // magic, version, header crc32, header length
inline constexpr uint64_t kAlignment = 64;

struct Prefix {
  uint32_t version = kVersion;
  uint32_t header_crc = 0;
  uint64_t header_length = 0;
};

void encode_prefix(const Prefix& prefix, uint8_t out[kPrefixSize]);
Prefix decode_prefix(const uint8_t in[kPrefixSize]);  // the caller has checked the magic

inline uint64_t align_up(uint64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

// zlib's crc32 takes 32-bit lengths; this one takes any size and can continue a running crc.
uint32_t crc32(const void* data, size_t nbytes, uint32_t running = 0);

// Protobuf rejects a header whose string fields are not UTF-8, so names are checked on write.
bool is_valid_utf8(const std::string& s);

std::string hex32(uint32_t v);  // "0x1234abcd", for checksum messages

}  // namespace octet::io::format
