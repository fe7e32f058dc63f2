#include "framework/autocast.h"

#include <string>

#include "ops/error.h"

namespace octet {
namespace {

thread_local std::optional<DType> g_autocast;

}  // namespace

std::optional<DType> autocast_dtype() { return g_autocast; }

AutocastGuard::AutocastGuard(DType compute, bool enabled) : previous_(g_autocast) {
  // Only bf16 has f32's exponent range, so f32 values need no scaling to fit (f16 would need a
  // loss scaler, which octet does not have).
  OCTET_CHECK(compute == DType::bf16, "autocast", "computes in bf16 only, not ",
              dtype_name(compute));
  g_autocast = enabled ? std::optional<DType>(compute) : std::nullopt;
}

AutocastGuard::~AutocastGuard() { g_autocast = previous_; }

std::optional<DType> autocast_from_precision(const std::string& precision, const char* where) {
  if (precision == "fp32") return std::nullopt;
  if (precision == "bf16") return DType::bf16;
  throw Error(where, "unknown precision '" + precision + "' (expected fp32 or bf16)");
}

}  // namespace octet
