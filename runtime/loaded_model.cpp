#include "runtime/loaded_model.h"

#include "ops/error.h"

namespace octet::runtime {

std::unique_ptr<LoadedModel> LoadedModel::open(const std::string& path) {
  auto m = std::unique_ptr<LoadedModel>(new LoadedModel());
  m->file_ = std::make_unique<ModelFile>(ModelFile::open(path));
  const proto::QModel& h = m->file_->header();
  if (h.has_cnn())
    m->cnn_ = std::make_unique<CnnRuntime>(*m->file_);
  else if (h.has_transformer())
    m->decoder_ = std::make_unique<TransformerRuntime>(*m->file_);
  else
    throw Error("qmodel", path + ": the description names no architecture");
  return m;
}

std::vector<std::string> LoadedModel::describe() const {
  return cnn_ ? cnn_->describe() : decoder_->describe();
}

size_t LoadedModel::resident_bytes() const {
  return cnn_ ? cnn_->resident_bytes() : decoder_->resident_bytes();
}

}  // namespace octet::runtime
