#pragma once
// export: a prepared model (QAT-trained, or PTQ-calibrated) written as a deployable .qmodel: a
// tensor archive whose metadata holds the proto::QModel description (proto/qmodel.proto) and
// whose tensors are each quantized layer's parts plus every other parameter in f32.
#include <cstdint>
#include <string>

#include "framework/models/cnn.h"
#include "framework/models/gpt.h"
#include "framework/nn/module.h"
#include "proto/qmodel.pb.h"

namespace octet::qat {

struct ExportOptions {
  proto::Provenance provenance;
  proto::Tokenizer tokenizer;  // kind empty: the model's default ("labels" / "bytes")
};

// The architecture (CnnArch, or TransformerArch with mlp_hidden resolved) of these models, with
// the options' provenance and tokenizer; format_version set, no layers yet.
proto::QModel describe_model(const models::Cnn& model, const ExportOptions& options = {});
proto::QModel describe_model(const models::LanguageModel& model, const ExportOptions& options = {});

// Writes `model` (prepared by qat::prepare and trained/calibrated, or prepared with
// prepare_llm_int8 and calibrated) to `path` as a .qmodel described by `description` (from
// describe_model; its layers and skipped_layers are filled in here):
//   fake-quant twins   qat::convert -> Layer + weight_codes, weight_scale[, weight_zero_point],
//                      input_scale[, input_zero_point] when the input scale is static, bias
//   LlmInt8Linear      llm_int8_parts -> Layer (llm_int8) + outlier_columns, outlier_weight,
//                      weight_codes (regular columns), weight_scale, bias
//   Linear / Conv2d    left unswapped: listed in skipped_layers, parameters written in f32
//   everything else    every parameter (embeddings, norms) in f32 under its module name
// Buffers (observer state) and quantizer parameters (LSQ scales) are not written as such: their
// effect is in the stored scales. The file is replaced atomically. Returns its size in bytes.
// Throws if the description has no architecture, or if the model holds no quantized layer and
// the description's provenance.method is not "fp32" (an unquantized baseline, every layer in
// skipped_layers).
uint64_t export_qmodel(nn::Module& model, proto::QModel description, const std::string& path);

}  // namespace octet::qat
