#pragma once
// Mixed precision ("autocast"), as torch.autocast does it: within an AutocastGuard the GEMMs of
// matmul and linear take bf16 operands (rounded from f32) and accumulate and return f32; every
// other op, the parameters, the activations between ops and all gradients stay f32. f64 tensors
// are never autocast, so gradcheck stays exact. The setting belongs to the calling thread; an op
// records the setting it ran under, so its backward computes alike even after the guard ended.
#include <optional>
#include <string>

#include "ops/dtype.h"

namespace octet {

// The dtype the GEMMs of matmul and linear compute in on this thread, or nullopt (plain f32).
std::optional<DType> autocast_dtype();

// Sets autocast for its scope (compute = bf16, the only dtype supported; enabled = false turns
// autocast off inside an enclosing guard) and restores the previous setting when it ends, so
// guards nest.
class AutocastGuard {
 public:
  explicit AutocastGuard(DType compute, bool enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  std::optional<DType> previous_;
};

// The precision names training options take: "fp32" -> nullopt, "bf16" -> DType::bf16; anything
// else throws naming `where`.
std::optional<DType> autocast_from_precision(const std::string& precision, const char* where);

}  // namespace octet
