#pragma once
// A .qmodel opened and ready to run: the model file (kept mapped) plus the engine its
// architecture needs. What `octet eval`, `octet generate` and the benchmarks hold.
#include <memory>
#include <string>
#include <vector>

#include "runtime/cnn_runtime.h"
#include "runtime/model_file.h"
#include "runtime/transformer_runtime.h"

namespace octet::runtime {

class LoadedModel {
 public:
  // Opens and validates `path` and builds its engine; throws naming the file on any problem.
  static std::unique_ptr<LoadedModel> open(const std::string& path);

  const ModelFile& file() const { return *file_; }
  // Exactly one of these is set, by the file's architecture.
  const CnnRuntime* cnn() const { return cnn_.get(); }
  const TransformerRuntime* decoder() const { return decoder_.get(); }
  std::vector<std::string> describe() const;
  size_t resident_bytes() const;  // held outside the file mapping

 private:
  // The engines point into the file's mapping, so the file lives on the heap and outlives them.
  std::unique_ptr<ModelFile> file_;
  std::unique_ptr<CnnRuntime> cnn_;
  std::unique_ptr<TransformerRuntime> decoder_;
};

}  // namespace octet::runtime
