#pragma once
// ModelFile: an exported model (.qmodel) opened for the runtime. A .qmodel is a tensor archive
// (framework/io/archive.h) whose metadata holds a proto::QModel (proto/qmodel.proto) under
// "octet.qmodel". open() validates the whole description against the archive's tensor records
// before anything runs, so the engine can trust every layer's parts: their presence, dtypes and
// shapes, the scales' values (finite, > 0), the zero points and the outlier columns.
//
// Every failure is an octet::Error naming the file, the place and the reason:
//   "[qmodel] m.qmodel: layer 'fc1': tensor 'fc1.weight_scale': expected f32 [16], found f32 [15]"
// Damage the archive itself detects (truncation, crc mismatches) is tagged "archive" and names
// the file too. Blob checksums of the large tensors are verified lazily, on first view.
#include <cstdint>
#include <string>
#include <unordered_map>

#include "framework/io/archive.h"
#include "framework/io/quant_spec_proto.h"
#include "ops/quant/quant_spec.h"
#include "proto/qmodel.pb.h"

namespace octet::runtime {

inline constexpr const char* kQModelKey = io::kQModelMetadataKey;
inline constexpr uint32_t kQModelVersion = io::kQModelFormatVersion;

class ModelFile {
 public:
  static ModelFile open(const std::string& path);  // validates everything listed above

  ModelFile(ModelFile&&) noexcept = default;
  ModelFile& operator=(ModelFile&&) noexcept = default;

  const proto::QModel& header() const { return header_; }
  const io::Archive& archive() const { return archive_; }
  const std::string& path() const { return archive_.path(); }
  uint64_t file_size() const { return archive_.file_size(); }

  // The quantized layer of that name, or nullptr when it is not one (an f32 or skipped layer).
  // The pointer stays valid while this ModelFile lives.
  const proto::Layer* layer(const std::string& name) const;
  bool has_tensor(const std::string& name) const { return archive_.contains(name); }
  // Checked view: throws "[qmodel] <path>: tensor '<name>': expected f32 [256, 768], found i8
  // [..]" or "... is missing". Zero-copy into the read-only mapping; valid while this lives.
  View tensor(const std::string& name, DType dtype, const Shape& shape) const;

  quant::QuantSpec weight_spec(const proto::Layer& layer) const;
  // The input spec; throws for a weight-only layer (no input quantization).
  quant::QuantSpec input_spec(const proto::Layer& layer) const;

  // What the layer's stored parts must look like (open() has checked that they do).
  static DType code_dtype(const quant::QuantSpec& spec);  // i8, or u8 for uint / FP8 codes
  // [out, in] or [out, in, k, k]; for LLM.int8() layers [out, in - outlier columns].
  Shape weight_codes_shape(const proto::Layer& layer) const;
  int64_t outlier_count(const proto::Layer& layer) const;  // 0 unless llm_int8

  // Checks every blob's crc32 now (octet inspect --verify, paranoid loads).
  void verify_all() const { archive_.verify_all(); }

 private:
  ModelFile(io::Archive archive, proto::QModel header);
  void validate() const;
  // Presence, dtype and shape from the record alone: the blob (and its crc) is not touched.
  void check_record(const std::string& name, DType dtype, const Shape& shape) const;
  void validate_layer(const proto::Layer& layer) const;

  io::Archive archive_;
  proto::QModel header_;
  std::unordered_map<std::string, int> layer_index_;
};

}  // namespace octet::runtime
