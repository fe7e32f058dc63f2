#pragma once
// Copy and fill for views on any device: the host kernels for cpu views, the CUDA kernels for
// views on one GPU, and a byte copy between host and device (or two devices) for contiguous
// views of one dtype. Tensor::contiguous / to / clone / item go through here.
#include "ops/view.h"

namespace octet {

// dst = src; shapes must match. Within a device dtypes may differ; across devices they may not
// and both views must be contiguous (convert on one side first).
void copy_any(const View& src, const View& dst);
void fill_any(const View& dst, double value);

}  // namespace octet
