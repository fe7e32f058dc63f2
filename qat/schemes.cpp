#include "qat/schemes.h"

namespace octet::qat {

using quant::QuantSpec;
using quant::ScaleSource;

std::vector<std::string> scheme_names() {
  return {"w8a8", "w8a8_dyn", "fp8_e4m3", "w4a8", "w4a4", "w4a4_pt", "w2a8"};
}

LayerQuantConfig scheme_config(const std::string& name) {
  LayerQuantConfig c;  // w8a8 by default
  if (name == "w8a8") return c;
  if (name == "w8a8_dyn") {
    c.input.spec = QuantSpec::int8_symmetric().per_token().with_source(ScaleSource::kCurrent);
    return c;
  }
  if (name == "fp8_e4m3") {
    c.weight.spec = QuantSpec::fp8_e4m3().with_source(ScaleSource::kCurrent);
    c.input.spec = QuantSpec::fp8_e4m3().with_source(ScaleSource::kAmaxHistory);
    c.input.observer.history_length = 16;
    return c;
  }
  if (name == "w4a8") {
    c.weight.spec = QuantSpec::int4_symmetric().per_channel(0).with_source(ScaleSource::kCurrent);
    return c;
  }
  if (name == "w4a4") {
    c.weight.spec = QuantSpec::int4_symmetric().per_channel(0).with_source(ScaleSource::kCurrent);
    c.input.spec = QuantSpec::int4_symmetric();
    return c;
  }
  if (name == "w4a4_pt") {
    c.weight.spec = QuantSpec::int4_symmetric().with_source(ScaleSource::kCurrent);
    c.input.spec = QuantSpec::int4_symmetric();
    return c;
  }
  if (name == "w2a8") {
    QuantSpec ternary = QuantSpec::int4_symmetric();
    ternary.qmin = -1;
    ternary.qmax = 1;
    c.weight.spec = ternary.per_channel(0).with_source(ScaleSource::kCurrent);
    return c;
  }
  std::string known;
  for (const std::string& n : scheme_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("scheme", "unknown quantization scheme '" + name + "' (known: " + known + ")");
}

}  // namespace octet::qat
