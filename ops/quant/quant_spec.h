#pragma once
// QuantSpec: the one definition of a quantized number format, shared by fake-quant in training
// (qat/), calibration in PTQ (qat/) and the deployed kernels (runtime/). Plain data: what the
// codes are (integer range or FP8 format), how scales are laid over a tensor (granularity), and
// where the scale comes from. Kernels take a QuantSpec plus the scale (and zero-point) values.
//
// Conventions, used everywhere in octet:
// - Integer formats: q = clamp(nearbyint(x * (1/s)) + zp, qmin, qmax), x' = (q - zp) * s, with
//   1/s computed once in float and rounding half-to-even (PyTorch's fake_quantize arithmetic).
//   Symmetric formats have zp = 0.
// - FP8 formats: q = encode(x * s), x' = decode(q) * (1/s), s = fp8_max / amax / 2^margin, so
//   `s` here multiplies on the way in (Transformer Engine's convention); `scale_inv` = 1/s is
//   what a deployed GEMM multiplies its accumulator by.
#include <cstdint>
#include <string>
#include <vector>

namespace octet::quant {

enum class Format : uint8_t {
  kInt,      // integer codes in [qmin, qmax]: int8 symmetric/affine, uint8 affine, int4
  kFp8E4M3,  // E4M3FN: max 448, NaN, no infinity
  kFp8E5M2,  // E5M2: max 57344, infinities
};

enum class Granularity : uint8_t {
  kPerTensor,   // one scale
  kPerChannel,  // one scale per index of `axis` (weights: axis 0 = output channel)
  kPerToken,    // one scale per row: every index of all dimensions but the last
  kPerGroup,    // one scale per `group_size` consecutive elements of the last (reduction) axis
};

enum class ScaleSource : uint8_t {
  kObserver,     // calibrated statistics (min-max, moving average, histogram, MSE search)
  kAmaxHistory,  // FP8 delayed scaling: amax history of `history_length`
  kCurrent,      // computed from this tensor's own amax at each call (dynamic / current scaling)
  kLearned,      // LSQ: the scale (and zero point) is a trained parameter
};

struct QuantSpec {
  Format format = Format::kInt;
  // Integer formats only.
  int64_t qmin = -127;
  int64_t qmax = 127;
  bool symmetric = true;  // zero point fixed at 0
  // FP8 formats only: saturate out-of-range values to the finite max (true), or follow the
  // format's overflow rule (E4M3FN -> NaN, E5M2 -> infinity).
  bool saturate = true;
  Granularity granularity = Granularity::kPerTensor;
  int axis = 0;            // kPerChannel
  int64_t group_size = 0;  // kPerGroup
  ScaleSource scale_source = ScaleSource::kObserver;

  // The common formats. `narrow` int8 is [-127, 127] (symmetric around 0, what int8 GEMMs with
  // symmetric weights want); full is [-128, 127].
  static QuantSpec int8_symmetric(bool narrow = true);
  static QuantSpec int8_affine();     // [-128, 127] with a zero point
  static QuantSpec uint8_affine();    // [0, 255] with a zero point
  static QuantSpec int4_symmetric();  // [-7, 7]
  static QuantSpec fp8_e4m3();
  static QuantSpec fp8_e5m2();

  QuantSpec per_channel(int channel_axis) const;
  QuantSpec per_token() const;
  QuantSpec per_group(int64_t size) const;
  QuantSpec with_source(ScaleSource source) const;

  bool is_fp8() const { return format != Format::kInt; }
  // The largest magnitude a code represents (qmax for integers, 448 / 57344 for FP8).
  double max_representable() const;
  // Bits per stored code (4 or 8), for model sizes.
  int bits() const;

  // Throws octet::Error("[quant_spec] ...") when the fields contradict each other.
  void validate() const;
  // "int8 sym [-127,127] per-channel(axis 0) observer", for logs and `octet inspect`.
  std::string str() const;
};

bool operator==(const QuantSpec& a, const QuantSpec& b);

// How a spec's scales map onto a tensor of `shape`, read in row-major order: element i uses scale
// number (i / inner) % count. Every granularity has this form (per-tensor: inner = numel,
// count = 1; per-channel on axis a: inner = product of the dims after a, count = shape[a];
// per-token: inner = last dim, count = numel / last dim; per-group: inner = group_size,
// count = numel / group_size), so one kernel loop serves them all.
struct ScaleLayout {
  int64_t inner = 1;
  int64_t count = 1;
  // The shape of the scale tensor, e.g. {out_features} for per-channel weights or {rows, groups}.
  std::vector<int64_t> scale_shape;
};

// Throws naming the spec and the shape when they do not fit (axis out of range, group size that
// does not divide the last dimension).
ScaleLayout scale_layout(const QuantSpec& spec, const std::vector<int64_t>& shape);

}  // namespace octet::quant
