#include "ops/quant/quant_spec.h"

#include <sstream>

#include "ops/error.h"

namespace octet::quant {

QuantSpec QuantSpec::int8_symmetric(bool narrow) {
  QuantSpec s;
  s.qmin = narrow ? -127 : -128;
  s.qmax = 127;
  return s;
}

QuantSpec QuantSpec::int8_affine() {
  QuantSpec s;
  s.qmin = -128;
  s.qmax = 127;
  s.symmetric = false;
  return s;
}

QuantSpec QuantSpec::uint8_affine() {
  QuantSpec s;
  s.qmin = 0;
  s.qmax = 255;
  s.symmetric = false;
  return s;
}

QuantSpec QuantSpec::int4_symmetric() {
  QuantSpec s;
  s.qmin = -7;
  s.qmax = 7;
  return s;
}

QuantSpec QuantSpec::fp8_e4m3() {
  QuantSpec s;
  s.format = Format::kFp8E4M3;
  return s;
}

QuantSpec QuantSpec::fp8_e5m2() {
  QuantSpec s;
  s.format = Format::kFp8E5M2;
  return s;
}

QuantSpec QuantSpec::per_channel(int channel_axis) const {
  QuantSpec s = *this;
  s.granularity = Granularity::kPerChannel;
  s.axis = channel_axis;
  return s;
}

QuantSpec QuantSpec::per_token() const {
  QuantSpec s = *this;
  s.granularity = Granularity::kPerToken;
  return s;
}

QuantSpec QuantSpec::per_group(int64_t size) const {
  QuantSpec s = *this;
  s.granularity = Granularity::kPerGroup;
  s.group_size = size;
  return s;
}

QuantSpec QuantSpec::with_source(ScaleSource source) const {
  QuantSpec s = *this;
  s.scale_source = source;
  return s;
}

double QuantSpec::max_representable() const {
  switch (format) {
    case Format::kFp8E4M3:
      return 448.0;
    case Format::kFp8E5M2:
      return 57344.0;
    case Format::kInt:
      break;
  }
  return static_cast<double>(qmax);
}

int QuantSpec::bits() const {
  if (is_fp8()) return 8;
  return (qmax - qmin) < 16 ? 4 : 8;
}

void QuantSpec::validate() const {
  if (format == Format::kInt) {
    OCTET_CHECK(qmin < qmax, "quant_spec", "qmin ", qmin, " must be below qmax ", qmax);
    OCTET_CHECK(qmin >= -128 && qmax <= 255 && (qmin >= 0 || qmax <= 127), "quant_spec", "[", qmin,
                ", ", qmax, "] does not fit in 8 bits (int8 or uint8)");
    OCTET_CHECK(!symmetric || (qmin <= 0 && qmax > 0), "quant_spec", "a symmetric range [", qmin,
                ", ", qmax, "] must contain 0 and positive codes");
  }
  OCTET_CHECK(granularity != Granularity::kPerChannel || axis >= 0, "quant_spec",
              "per-channel axis must be >= 0, got ", axis);
  OCTET_CHECK(granularity != Granularity::kPerGroup || group_size > 0, "quant_spec",
              "per-group needs group_size > 0, got ", group_size);
  OCTET_CHECK(scale_source != ScaleSource::kAmaxHistory || is_fp8(), "quant_spec",
              "amax-history (delayed) scaling is an FP8 scale source; ", str(), " is integer");
}

std::string QuantSpec::str() const {
  std::ostringstream os;
  switch (format) {
    case Format::kInt:
      os << (qmin >= 0 ? "uint" : "int") << bits() << (symmetric ? " sym" : " affine") << " ["
         << qmin << "," << qmax << "]";
      break;
    case Format::kFp8E4M3:
      os << "fp8 e4m3" << (saturate ? "" : " nonsat");
      break;
    case Format::kFp8E5M2:
      os << "fp8 e5m2" << (saturate ? "" : " nonsat");
      break;
  }
  switch (granularity) {
    case Granularity::kPerTensor:
      os << " per-tensor";
      break;
    case Granularity::kPerChannel:
      os << " per-channel(axis " << axis << ")";
      break;
    case Granularity::kPerToken:
      os << " per-token";
      break;
    case Granularity::kPerGroup:
      os << " per-group(" << group_size << ")";
      break;
  }
  switch (scale_source) {
    case ScaleSource::kObserver:
      os << " observer";
      break;
    case ScaleSource::kAmaxHistory:
      os << " amax-history";
      break;
    case ScaleSource::kCurrent:
      os << " current";
      break;
    case ScaleSource::kLearned:
      os << " learned";
      break;
  }
  return os.str();
}

bool operator==(const QuantSpec& a, const QuantSpec& b) {
  return a.format == b.format && a.qmin == b.qmin && a.qmax == b.qmax &&
         a.symmetric == b.symmetric && a.saturate == b.saturate && a.granularity == b.granularity &&
         a.axis == b.axis && a.group_size == b.group_size && a.scale_source == b.scale_source;
}

ScaleLayout scale_layout(const QuantSpec& spec, const std::vector<int64_t>& shape) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  const int64_t last = shape.empty() ? 1 : shape.back();
  ScaleLayout layout;
  switch (spec.granularity) {
    case Granularity::kPerTensor:
      layout = {numel, 1, {}};
      break;
    case Granularity::kPerChannel: {
      OCTET_CHECK(spec.axis < static_cast<int>(shape.size()), "quant_spec", spec.str(),
                  ": channel axis ", spec.axis, " is out of range for a tensor of rank ",
                  shape.size());
      int64_t inner = 1;
      for (size_t d = spec.axis + 1; d < shape.size(); ++d) inner *= shape[d];
      layout = {inner, shape[spec.axis], {shape[spec.axis]}};
      break;
    }
    case Granularity::kPerToken: {
      OCTET_CHECK(!shape.empty(), "quant_spec", spec.str(), " needs a tensor of rank >= 1");
      layout = {last, last == 0 ? 0 : numel / last,
                std::vector<int64_t>(shape.begin(), shape.end() - 1)};
      break;
    }
    case Granularity::kPerGroup: {
      OCTET_CHECK(!shape.empty() && last % spec.group_size == 0, "quant_spec", spec.str(),
                  ": group size ", spec.group_size, " does not divide the last dimension ", last);
      std::vector<int64_t> s(shape.begin(), shape.end() - 1);
      s.push_back(last / spec.group_size);
      layout = {spec.group_size, numel / spec.group_size, s};
      break;
    }
  }
  return layout;
}

}  // namespace octet::quant
