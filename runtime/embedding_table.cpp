#include "runtime/embedding_table.h"

#include <algorithm>

#include "ops/error.h"
#include "ops/quant/quantize.h"
#include "runtime/activation_quantizer.h"

namespace octet::runtime {

EmbeddingTable EmbeddingTable::load(const ModelFile& file, const std::string& name, int64_t rows,
                                    int64_t dim) {
  EmbeddingTable t;
  t.rows_ = rows;
  t.dim_ = dim;
  const proto::Layer* layer = file.layer(name);
  if (!layer) {
    t.f32_ = file.tensor(name + ".weight", DType::f32, {rows, dim}).ptr<const float>();
    return t;
  }
  const std::string where = file.path() + ": layer '" + name + "'";
  OCTET_CHECK(layer->kind() == proto::Layer::EMBEDDING, "qmodel", where,
              ": expected an embedding table");
  t.spec_ = file.weight_spec(*layer);
  t.per_row_ = t.spec_.granularity == quant::Granularity::kPerChannel && t.spec_.axis == 0;
  OCTET_CHECK(t.per_row_ || t.spec_.granularity == quant::Granularity::kPerTensor, "qmodel", where,
              ": an embedding table takes one scale per row or per table, got ", t.spec_.str());
  t.codes_ = file.tensor(name + ".weight_codes", ModelFile::code_dtype(t.spec_), {rows, dim}).data;
  const int64_t count = t.per_row_ ? rows : 1;
  t.scales_ = read_floats(file, name + ".weight_scale", count);
  if (!t.spec_.is_fp8() && !t.spec_.symmetric)
    t.zero_points_ = read_floats(file, name + ".weight_zero_point", count);
  return t;
}

void EmbeddingTable::lookup(int64_t row, float* out) const {
  if (f32_) {
    std::copy_n(f32_ + row * dim_, dim_, out);
    return;
  }
  // One row under one scale: the layout of a per-tensor spec over [dim].
  const quant::ScaleLayout one{dim_, 1, {1}};
  const int64_t s = per_row_ ? row : 0;
  const float* zp = zero_points_.empty() ? nullptr : &zero_points_[s];
  if (spec_.is_fp8()) {
    const quant::Fp8Format format = quant::fp8_format_of(spec_.format);
    quant::dequantize_fp8(static_cast<const uint8_t*>(codes_) + row * dim_, dim_, one, &scales_[s],
                          format, out);
  } else if (ModelFile::code_dtype(spec_) == DType::u8) {
    quant::dequantize_int(static_cast<const uint8_t*>(codes_) + row * dim_, dim_, one, &scales_[s],
                          zp, spec_.qmin, spec_.qmax, out);
  } else {
    quant::dequantize_int(static_cast<const int8_t*>(codes_) + row * dim_, dim_, one, &scales_[s],
                          zp, spec_.qmin, spec_.qmax, out);
  }
}

std::string EmbeddingTable::describe() const {
  return f32_ ? "f32 table" : "quantized table (" + spec_.str() + "), rows dequantized on lookup";
}

}  // namespace octet::runtime
