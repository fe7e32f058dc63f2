#pragma once
// Strided copy with dtype conversion (f64/f32/bf16/f16/integers), and fill.
#include "ops/view.h"

namespace octet::cpu {

// dst = src elementwise; shapes must match; dtypes may differ (float->int truncates toward zero).
void copy(const View& src, const View& dst);
// Every element of dst = value.
void fill(const View& dst, double value);

}  // namespace octet::cpu
