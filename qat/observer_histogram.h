#pragma once
// Equal-width histograms over a range that grows as data arrives: the state of the histogram and
// MSE observers. A histogram is `bins` f32 counts over [lo, hi]; bin k covers
// [lo + k * w, lo + (k + 1) * w) with w = (hi - lo) / bins (the last bin includes hi). When
// lo == hi every value sits in bin 0. Counts are f32 so they live in observer buffers; above 2^24
// per bin they round, which moves a percentile by far less than a bin.
#include <cstdint>

#include "ops/quant/quant_spec.h"

namespace octet::qat::histogram {

// Moves the mass of `counts` from [old_lo, old_hi] onto the same number of bins over
// [new_lo, new_hi], which must contain the old range, assuming each old bin's mass is spread
// evenly over it (a degenerate old range is a point mass at old_lo).
void rebin(float* counts, int64_t bins, double old_lo, double old_hi, double new_lo, double new_hi);

// Adds scale c's elements of x (layout as in ops/quant/range.h; |x| when `absolute`) to the
// histogram counts + c * bins over [lo[c], hi[c]]. Values outside the range land in the end bins.
void accumulate(const float* x, int64_t n, const quant::ScaleLayout& layout, bool absolute,
                const float* lo, const float* hi, int64_t bins, float* counts);

// The value below which a fraction q in [0, 1] of the mass lies, interpolating linearly inside
// the bin where the cumulative count crosses q * total. An empty histogram gives lo.
double quantile(const float* counts, int64_t bins, double lo, double hi, double q);

}  // namespace octet::qat::histogram
