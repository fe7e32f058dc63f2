#include "qat/quant_params.h"

namespace octet::qat {

void check_qparams(const char* op, const quant::QuantSpec& spec, const QParams& p,
                   const Shape& shape) {
  const quant::ScaleLayout layout = quant::scale_layout(spec, shape);
  OCTET_CHECK(p.scale.defined() && p.scale.dtype() == DType::f32 && p.scale.numel() == layout.count,
              op, spec.str(), " over ", shape_str(shape), " needs ", layout.count,
              " f32 scales, got ", p.scale.defined() ? p.scale.str() : "(undefined)");
  OCTET_CHECK(spec.is_fp8() || spec.symmetric || p.zero_point.defined(), op, spec.str(),
              " needs a zero point");
  if (p.zero_point.defined()) {
    OCTET_CHECK(!spec.is_fp8() && !spec.symmetric, op, spec.str(), " takes no zero point");
    OCTET_CHECK(p.zero_point.dtype() == DType::f32 && p.zero_point.numel() == layout.count, op,
                "zero point ", p.zero_point.str(), " does not match ", layout.count, " scales");
  }
}

}  // namespace octet::qat
