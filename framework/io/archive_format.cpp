#include "framework/io/archive_format.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace octet::io::format {

namespace {

void put_le(uint8_t* out, uint64_t v, int nbytes) {
  for (int i = 0; i < nbytes; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t get_le(const uint8_t* in, int nbytes) {
  uint64_t v = 0;
  for (int i = 0; i < nbytes; ++i) v |= static_cast<uint64_t>(in[i]) << (8 * i);
  return v;
}

}  // namespace

void encode_prefix(const Prefix& prefix, uint8_t out[kPrefixSize]) {
  std::memcpy(out, kMagic, sizeof(kMagic));
  put_le(out + 8, prefix.version, 4);
  put_le(out + 12, prefix.header_crc, 4);
  put_le(out + 16, prefix.header_length, 8);
}

Prefix decode_prefix(const uint8_t in[kPrefixSize]) {
  Prefix p;
  p.version = static_cast<uint32_t>(get_le(in + 8, 4));
  p.header_crc = static_cast<uint32_t>(get_le(in + 12, 4));
  p.header_length = get_le(in + 16, 8);
  return p;
}

uint32_t crc32(const void* data, size_t nbytes, uint32_t running) {
  const auto* p = static_cast<const Bytef*>(data);
  uLong crc = running;
  while (nbytes > 0) {
    uInt chunk = static_cast<uInt>(std::min<size_t>(nbytes, size_t{1} << 30));
    crc = ::crc32(crc, p, chunk);
    p += chunk;
    nbytes -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

bool is_valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned c = *p++;
    int extra;
    uint32_t cp;
    if (c < 0x80) continue;
    if ((c & 0xe0) == 0xc0)
      extra = 1, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
      extra = 2, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
      extra = 3, cp = c & 0x07;
    else
      return false;
    if (end - p < extra) return false;
    for (int i = 0; i < extra; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    p += extra;
    static constexpr uint32_t kMinForLength[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
  }
  return true;
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

}  // namespace octet::io::format
