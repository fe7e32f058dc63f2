// write_archive: validates every input before touching the disk, lays the blobs out, streams
// them (gathering strided views) while computing their crcs, then fills in prefix and header.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "framework/io/archive.h"
#include "framework/io/archive_format.h"
#include "framework/io/atomic_file.h"
#include "ops/error.h"
#include "proto/archive.pb.h"

namespace octet::io {

namespace {

constexpr size_t kStagingBytes = size_t{4} << 20;
// Columns per tile when gathering strided rows: a tile row of f32 is one cache line, and a tile
// touches few enough source lines that a transposed view does not thrash L1 (measured: 16 beat
// 4, 8 and 32 on a 4096x4096 transpose).
constexpr int64_t kTile = 16;

[[noreturn]] void fail(const std::string& path, const std::string& tensor,
                       const std::string& reason) {
  std::string where = tensor.empty() ? path + ": " : path + ": tensor '" + tensor + "': ";
  throw Error("archive", where + reason);
}

void validate(const std::string& path, const std::vector<NamedView>& tensors,
              const std::map<std::string, std::string>& metadata) {
  std::set<std::string> seen;
  for (const NamedView& t : tensors) {
    if (t.name.empty()) fail(path, "", "empty tensor name");
    if (!format::is_valid_utf8(t.name)) fail(path, t.name, "name is not valid UTF-8");
    if (!seen.insert(t.name).second) fail(path, t.name, "duplicate tensor name");
    const View& v = t.view;
    if (v.device.type != DeviceType::cpu)
      fail(path, t.name, "only cpu tensors can be written (got " + v.device.str() + ")");
    if (v.strides.size() != v.shape.size())
      fail(path, t.name,
           "view has " + std::to_string(v.shape.size()) + " dims but " +
               std::to_string(v.strides.size()) + " strides");
    for (int64_t d : v.shape)
      if (d < 0) fail(path, t.name, "negative dimension in shape " + shape_str(v.shape));
    if (v.numel() > 0 && v.data == nullptr) fail(path, t.name, "view has no data");
  }
  for (const auto& [key, value] : metadata)
    if (!format::is_valid_utf8(key)) fail(path, "", "metadata key is not valid UTF-8");
}

// Map fields serialize in hash order unless asked otherwise; the same inputs should give the
// same file, byte for byte (so exported models can be compared by their hash).
std::string serialize(const proto::ArchiveHeader& header) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    header.SerializeToCodedStream(&coded);
  }
  return bytes;
}

// Offsets depend on the header's size, which depends on the offsets' varint sizes. Growing the
// data start only grows offsets, so repeating the layout reaches a fixed point in a few rounds.
std::string layout_header(proto::ArchiveHeader& header, uint64_t* data_start) {
  uint64_t start = format::align_up(format::kPrefixSize);
  for (;;) {
    uint64_t offset = start;
    for (auto& rec : *header.mutable_tensors()) {
      offset = format::align_up(offset);
      rec.set_offset(offset);
      offset += rec.nbytes();
    }
    std::string bytes = serialize(header);
    uint64_t needed = format::align_up(format::kPrefixSize + bytes.size());
    if (needed <= start) {
      *data_start = start;
      return bytes;
    }
    start = needed;
  }
}

// Streams a view's elements in row-major order into `out`, whatever its strides, and returns
// the crc32 of the bytes written.
class BlobWriter {
 public:
  explicit BlobWriter(AtomicFile& out) : out_(out) {}

  uint32_t write(const View& v) {
    crc_ = 0;
    const size_t elem = dtype_size(v.dtype);
    const uint64_t nbytes = static_cast<uint64_t>(v.numel()) * elem;
    if (nbytes == 0) return 0;
    if (v.is_contiguous()) {
      emit(v.data, nbytes);
      return crc_;
    }
    if (staging_.empty()) staging_.resize(kStagingBytes);
    // An odometer over the outer dims yields the start of each innermost row.
    const int64_t dims = v.dim();
    const int64_t inner = v.shape[dims - 1];
    const int64_t inner_stride = v.strides[dims - 1] * static_cast<int64_t>(elem);
    const size_t row_bytes = static_cast<size_t>(inner) * elem;
    // Rows are gathered in groups, tile by tile, so a transposed view reads neighbouring memory
    // (the rows' starts are close) instead of taking a cache miss per element.
    const size_t group = std::clamp<size_t>(staging_.size() / row_bytes, 1, 64);
    std::vector<const char*> rows;
    std::vector<int64_t> idx(dims - 1, 0);
    const char* base = static_cast<const char*>(v.data);
    for (int64_t left = v.numel() / inner; left > 0; --left) {
      const char* row = base;
      for (int64_t d = 0; d < dims - 1; ++d) row += idx[d] * v.strides[d] * int64_t(elem);
      for (int64_t d = dims - 2; d >= 0 && ++idx[d] == v.shape[d]; --d) idx[d] = 0;
      if (row_bytes > staging_.size()) {
        copy_long_row(row, inner, inner_stride, elem);
        continue;
      }
      rows.push_back(row);
      if (rows.size() < group && left > 1) continue;
      if (used_ + rows.size() * row_bytes > staging_.size()) flush();
      gather_rows(rows, inner, inner_stride, elem, staging_.data() + used_);
      used_ += rows.size() * row_bytes;
      rows.clear();
    }
    flush();
    return crc_;
  }

 private:
  // Checksums and writes in pieces, so each piece is still in cache when write() copies it.
  void emit(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    for (size_t done = 0; done < n;) {
      size_t piece = std::min(n - done, kStagingBytes);
      crc_ = format::crc32(p + done, piece, crc_);
      out_.write(p + done, piece);
      done += piece;
    }
  }

  void flush() {
    emit(staging_.data(), used_);
    used_ = 0;
  }

  template <typename E>
  static void gather_typed(const std::vector<const char*>& rows, int64_t inner, int64_t stride,
                           char* dst) {
    const int64_t n = static_cast<int64_t>(rows.size());
    for (int64_t j0 = 0; j0 < inner; j0 += kTile) {
      const int64_t j1 = std::min(inner, j0 + kTile);
      for (int64_t r = 0; r < n; ++r)
        for (int64_t j = j0; j < j1; ++j)
          std::memcpy(dst + (r * inner + j) * int64_t(sizeof(E)), rows[r] + j * stride, sizeof(E));
    }
  }

  static void gather_rows(const std::vector<const char*>& rows, int64_t inner, int64_t stride,
                          size_t elem, char* dst) {
    switch (elem) {
      case 1:
        return gather_typed<uint8_t>(rows, inner, stride, dst);
      case 2:
        return gather_typed<uint16_t>(rows, inner, stride, dst);
      case 4:
        return gather_typed<uint32_t>(rows, inner, stride, dst);
      case 8:
        return gather_typed<uint64_t>(rows, inner, stride, dst);
    }
    throw Error("archive", "unsupported element size " + std::to_string(elem));
  }

  // A row larger than the staging buffer goes through it in pieces.
  void copy_long_row(const char* src, int64_t count, int64_t stride_bytes, size_t elem) {
    while (count > 0) {
      if (used_ == staging_.size()) flush();
      int64_t n = std::min(count, static_cast<int64_t>((staging_.size() - used_) / elem));
      gather_rows({src}, n, stride_bytes, elem, staging_.data() + used_);
      src += n * stride_bytes;
      used_ += n * elem;
      count -= n;
    }
  }

  AtomicFile& out_;
  std::vector<char> staging_;
  size_t used_ = 0;
  uint32_t crc_ = 0;
};

}  // namespace

void write_archive(const std::string& path, const std::vector<NamedView>& tensors,
                   const std::map<std::string, std::string>& metadata) {
  validate(path, tensors, metadata);

  proto::ArchiveHeader header;
  for (const NamedView& t : tensors) {
    proto::TensorRecord* rec = header.add_tensors();
    rec->set_name(t.name);
    rec->set_dtype(dtype_name(t.view.dtype));
    for (int64_t d : t.view.shape) rec->add_shape(d);
    rec->set_nbytes(static_cast<uint64_t>(t.view.numel()) * dtype_size(t.view.dtype));
    rec->set_crc32(0);  // placeholder of the same encoded size as the real value
  }
  for (const auto& [key, value] : metadata) (*header.mutable_metadata())[key] = value;

  uint64_t data_start = 0;
  const std::string placeholder = layout_header(header, &data_start);

  AtomicFile out(path, "archive");
  out.write_zeros(data_start);  // prefix and header are written last, once the crcs are known
  BlobWriter blobs(out);
  for (size_t i = 0; i < tensors.size(); ++i) {
    proto::TensorRecord* rec = header.mutable_tensors(static_cast<int>(i));
    out.write_zeros(rec->offset() - out.bytes_written());
    rec->set_crc32(blobs.write(tensors[i].view));
  }

  const std::string final_header = serialize(header);
  OCTET_CHECK(final_header.size() == placeholder.size(), "archive", path,
              ": internal error: header size changed after checksumming");
  format::Prefix prefix;
  prefix.header_crc = format::crc32(final_header.data(), final_header.size());
  prefix.header_length = final_header.size();
  uint8_t prefix_bytes[format::kPrefixSize];
  format::encode_prefix(prefix, prefix_bytes);
  out.write_at(0, prefix_bytes, sizeof(prefix_bytes));
  out.write_at(format::kPrefixSize, final_header.data(), final_header.size());
  out.commit();
}

}  // namespace octet::io
