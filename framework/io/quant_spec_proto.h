#pragma once
// The .qmodel conventions that its writer (qat/export) and its reader (runtime/model_file) must
// agree on, in the one floor both can include: QuantSpec <-> proto::QuantSpec, the metadata key
// and format version, and the shapes of stored scale tensors.
#include <string>

#include "ops/quant/quant_spec.h"
#include "ops/view.h"
#include "proto/qmodel.pb.h"

namespace octet::io {

// The archive metadata key under which an exported model's serialized proto::QModel lives.
inline constexpr const char* kQModelMetadataKey = "octet.qmodel";
// The newest QModel.format_version this build writes and reads.
inline constexpr uint32_t kQModelFormatVersion = 1;

proto::QuantSpec to_proto(const quant::QuantSpec& spec);
// Throws octet::Error tagged "qmodel" whose message starts with `where` (e.g.
// "model.qmodel: layer 'fc1' weight spec") when an enum holds an unknown value or the spec fails
// QuantSpec::validate.
quant::QuantSpec from_proto(const proto::QuantSpec& spec, const std::string& where);

// The shape of the scale (and zero-point) tensor stored for `spec` over a tensor of `shape`:
// quant::scale_layout's scale_shape, except that a single per-tensor scale is stored as [1] (the
// shape qat's QParams use) rather than as a 0-d scalar.
Shape stored_scale_shape(const quant::QuantSpec& spec, const Shape& shape);

// The shape of "<layer>.input_scale" for a static input spec: [1] per tensor, [in_features] per
// channel (the channel axis of a linear's [rows, in] or a convolution's NCHW input). Throws for
// granularities whose scales cannot be stored ahead of the input (per token, per group).
Shape stored_input_scale_shape(const quant::QuantSpec& spec, const proto::Layer& layer);

}  // namespace octet::io
