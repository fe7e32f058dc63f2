#include "framework/io/quant_spec_proto.h"

#include "ops/error.h"

namespace octet::io {
namespace {

using quant::Format;
using quant::Granularity;
using quant::ScaleSource;

[[noreturn]] void fail(const std::string& where, const std::string& reason) {
  throw Error("qmodel", where + ": " + reason);
}

// The reason without its "[op] " tag, so a rethrown message does not carry two tags.
std::string untagged(const Error& e) {
  const std::string what = e.what();
  const std::string tag = "[" + e.op() + "] ";
  return what.rfind(tag, 0) == 0 ? what.substr(tag.size()) : what;
}

}  // namespace

proto::QuantSpec to_proto(const quant::QuantSpec& spec) {
  proto::QuantSpec p;
  switch (spec.format) {
    case Format::kInt:
      p.set_format(proto::QuantSpec::INT);
      break;
    case Format::kFp8E4M3:
      p.set_format(proto::QuantSpec::FP8_E4M3);
      break;
    case Format::kFp8E5M2:
      p.set_format(proto::QuantSpec::FP8_E5M2);
      break;
  }
  p.set_qmin(spec.qmin);
  p.set_qmax(spec.qmax);
  p.set_symmetric(spec.symmetric);
  p.set_saturate(spec.saturate);
  switch (spec.granularity) {
    case Granularity::kPerTensor:
      p.set_granularity(proto::QuantSpec::PER_TENSOR);
      break;
    case Granularity::kPerChannel:
      p.set_granularity(proto::QuantSpec::PER_CHANNEL);
      break;
    case Granularity::kPerToken:
      p.set_granularity(proto::QuantSpec::PER_TOKEN);
      break;
    case Granularity::kPerGroup:
      p.set_granularity(proto::QuantSpec::PER_GROUP);
      break;
  }
  p.set_axis(spec.axis);
  p.set_group_size(spec.group_size);
  switch (spec.scale_source) {
    case ScaleSource::kObserver:
      p.set_scale_source(proto::QuantSpec::OBSERVER);
      break;
    case ScaleSource::kAmaxHistory:
      p.set_scale_source(proto::QuantSpec::AMAX_HISTORY);
      break;
    case ScaleSource::kCurrent:
      p.set_scale_source(proto::QuantSpec::CURRENT);
      break;
    case ScaleSource::kLearned:
      p.set_scale_source(proto::QuantSpec::LEARNED);
      break;
  }
  return p;
}

quant::QuantSpec from_proto(const proto::QuantSpec& p, const std::string& where) {
  quant::QuantSpec s;
  // proto3 enums are open: a damaged or newer file can hold any integer in them.
  switch (p.format()) {
    case proto::QuantSpec::INT:
      s.format = Format::kInt;
      break;
    case proto::QuantSpec::FP8_E4M3:
      s.format = Format::kFp8E4M3;
      break;
    case proto::QuantSpec::FP8_E5M2:
      s.format = Format::kFp8E5M2;
      break;
    default:
      fail(where, "unknown number format " + std::to_string(p.format()));
  }
  switch (p.granularity()) {
    case proto::QuantSpec::PER_TENSOR:
      s.granularity = Granularity::kPerTensor;
      break;
    case proto::QuantSpec::PER_CHANNEL:
      s.granularity = Granularity::kPerChannel;
      break;
    case proto::QuantSpec::PER_TOKEN:
      s.granularity = Granularity::kPerToken;
      break;
    case proto::QuantSpec::PER_GROUP:
      s.granularity = Granularity::kPerGroup;
      break;
    default:
      fail(where, "unknown granularity " + std::to_string(p.granularity()));
  }
  switch (p.scale_source()) {
    case proto::QuantSpec::OBSERVER:
      s.scale_source = ScaleSource::kObserver;
      break;
    case proto::QuantSpec::AMAX_HISTORY:
      s.scale_source = ScaleSource::kAmaxHistory;
      break;
    case proto::QuantSpec::CURRENT:
      s.scale_source = ScaleSource::kCurrent;
      break;
    case proto::QuantSpec::LEARNED:
      s.scale_source = ScaleSource::kLearned;
      break;
    default:
      fail(where, "unknown scale source " + std::to_string(p.scale_source()));
  }
  s.qmin = p.qmin();
  s.qmax = p.qmax();
  s.symmetric = p.symmetric();
  s.saturate = p.saturate();
  s.axis = p.axis();
  s.group_size = p.group_size();
  try {
    s.validate();
  } catch (const Error& e) {
    fail(where, untagged(e));
  }
  return s;
}

Shape stored_scale_shape(const quant::QuantSpec& spec, const Shape& shape) {
  Shape s = quant::scale_layout(spec, shape).scale_shape;
  return s.empty() ? Shape{1} : s;
}

Shape stored_input_scale_shape(const quant::QuantSpec& spec, const proto::Layer& layer) {
  switch (spec.granularity) {
    case Granularity::kPerTensor:
      return {1};
    case Granularity::kPerChannel:
      OCTET_CHECK(spec.axis == 1, "qmodel", "per-channel input scales are per axis 1 (",
                  layer.kind() == proto::Layer::CONV2D ? "NCHW channels" : "input features",
                  "), got ", spec.str());
      return {layer.in_features()};
    case Granularity::kPerToken:
    case Granularity::kPerGroup:
      break;
  }
  throw Error("qmodel", "a stored input scale is per tensor or per channel; " + spec.str() +
                            " takes its scales from each input (static_scale must be false)");
}

}  // namespace octet::io
