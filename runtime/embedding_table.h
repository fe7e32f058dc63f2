#pragma once
// A deployed lookup table (token or position embeddings): f32 rows read straight from the file's
// mapping, or quantized rows dequantized on lookup with the same ops/quant arithmetic as the
// training model's fake-quantized table, so a looked-up row is bit for bit the trained one.
#include <cstdint>
#include <string>
#include <vector>

#include "ops/quant/quant_spec.h"
#include "runtime/model_file.h"

namespace octet::runtime {

class EmbeddingTable {
 public:
  EmbeddingTable() = default;
  // The table `name` of `file`, [rows, dim]: a quantized layer if the file lists one (kind
  // EMBEDDING), else f32 "<name>.weight". The file must outlive the table.
  static EmbeddingTable load(const ModelFile& file, const std::string& name, int64_t rows,
                             int64_t dim);

  int64_t rows() const { return rows_; }
  int64_t dim() const { return dim_; }
  // out[0, dim) = row `row` (0 <= row < rows(), checked by the caller).
  void lookup(int64_t row, float* out) const;
  std::string describe() const;

 private:
  int64_t rows_ = 0, dim_ = 0;
  const float* f32_ = nullptr;   // f32 table in the mapping, or null
  const void* codes_ = nullptr;  // quantized table in the mapping
  quant::QuantSpec spec_;
  bool per_row_ = false;  // one scale per row, else one for the table
  std::vector<float> scales_, zero_points_;
};

}  // namespace octet::runtime
