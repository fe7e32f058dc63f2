#include "ops/cuda/check.h"
#include "ops/cuda/indexing.cuh"
#include "ops/cuda/observer_state.h"
#include "ops/cuda/scale_rules.cuh"

namespace octet::cuda {
namespace {

// Observer::initial_qparams: the rule for [0, 0], then scale 1.
__device__ void initial_qparams(const rules::IntRule& r, bool fp8, float& scale,
                                float& zero_point) {
  zero_point = 0.0f;
  if (!fp8) rules::int_qparams(r, 0.0f, 0.0f, scale, zero_point);
  scale = 1.0f;
}

// MinMaxObserver::update (qat/minmax_observer.h): std::max, or the moving average as the CPU
// writes it, std::fma(c, batch - running, running).
__device__ __forceinline__ float fold(float running, float batch, float c) {
  if (c == 0.0f) return running < batch ? batch : running;
  return __fmaf_rn(c, __fsub_rn(batch, running), running);
}

// One block: a batch is taken or rejected as a whole (the CPU checks every scale before it
// changes any), so all scales are checked before any is written.
__global__ void minmax_observe_kernel(const float* bmin, const float* bmax, int64_t count, float c,
                                      float* neg_min, float* max, float* observed,
                                      int32_t* rejected) {
  int bad = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x)
    bad |= !(isfinite(bmin[i]) && isfinite(bmax[i]));
  // Every thread reads the flag before thread 0 may set it below: __syncthreads_or orders both.
  const bool first = *observed == 0.0f;
  if (__syncthreads_or(bad)) {
    if (threadIdx.x == 0) *rejected += 1;
    return;
  }
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const float lo = -bmin[i], hi = bmax[i];  // the CPU folds -min and max
    neg_min[i] = first ? lo : fold(neg_min[i], lo, c);
    max[i] = first ? hi : fold(max[i], hi, c);
  }
  if (threadIdx.x == 0) *observed = 1.0f;
}

__global__ void minmax_qparams_kernel(const float* neg_min, const float* max, int64_t count,
                                      rules::IntRule rule, bool fp8, float fp8_max,
                                      const float* observed, int margin, float* scales,
                                      float* zero_points) {
  const bool seen = *observed != 0.0f;
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < count;
       c += int64_t(gridDim.x) * blockDim.x) {
    float scale, zero_point;
    if (!seen) {
      initial_qparams(rule, fp8, scale, zero_point);
    } else if (fp8) {
      // Observer::qparams_from_ranges: amax = std::max(-min, max), with -min = neg_min exactly.
      const float amax = neg_min[c] < max[c] ? max[c] : neg_min[c];
      scale = rules::fp8_scale(fp8_max, amax, 1.0f, margin);
      zero_point = 0.0f;
    } else {
      rules::int_qparams(rule, -neg_min[c], max[c], scale, zero_point);
    }
    scales[c] = scale;
    if (zero_points != nullptr) zero_points[c] = zero_point;
  }
}

__global__ void int_qparams_kernel(const float* mins, const float* maxs, int64_t count,
                                   rules::IntRule rule, float* scales, float* zero_points) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < count;
       c += int64_t(gridDim.x) * blockDim.x) {
    float scale, zero_point;
    rules::int_qparams(rule, mins[c], maxs[c], scale, zero_point);
    scales[c] = scale;
    if (zero_points != nullptr) zero_points[c] = zero_point;
  }
}

// AmaxHistoryObserver::reduced_amax for one scale: row 0, or the maximum over the rows with NaN
// winning (once NaN, nothing replaces it; the CPU skips the remaining rows the same way).
__device__ float reduced_amax(const float* history, int64_t count, int64_t rows, bool most_recent,
                              int64_t c) {
  float amax = history[c];
  if (most_recent) return amax;
  for (int64_t row = 1; row < rows; ++row) {
    if (isnan(amax)) break;
    const float v = history[row * count + c];
    if (isnan(v) || v > amax) amax = v;
  }
  return amax;
}

__global__ void amax_history_scales_kernel(const float* history, int64_t count, int64_t rows,
                                           bool most_recent, float fp8_max, int margin,
                                           const float* previous, float* scales) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < count;
       c += int64_t(gridDim.x) * blockDim.x) {
    scales[c] = rules::fp8_scale(fp8_max, reduced_amax(history, count, rows, most_recent, c),
                                 previous[c], margin);
  }
}

// Each thread owns whole columns (one scale's history), so the slide needs no synchronisation.
__global__ void amax_history_observe_kernel(const float* batch_amax, int64_t count, int64_t rows,
                                            bool most_recent, float fp8_max, int margin,
                                            float* history, float* scale) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < count;
       c += int64_t(gridDim.x) * blockDim.x) {
    scale[c] = rules::fp8_scale(fp8_max, reduced_amax(history, count, rows, most_recent, c),
                                scale[c], margin);
    for (int64_t row = rows - 1; row >= 1; --row)
      history[row * count + c] = history[(row - 1) * count + c];
    history[c] = batch_amax[c];
  }
}

float fp8_max_of(const quant::QuantSpec& spec) {
  // As quant::fp8_scale: static_cast<float>(spec.max_representable()).
  return static_cast<float>(spec.max_representable());
}

void check_count(const char* op, int64_t count) {
  OCTET_CHECK(count >= 0, op, "negative count ", count);
}

}  // namespace

void minmax_observe(const float* batch_min, const float* batch_max, int64_t count,
                    float averaging_constant, float* neg_min_val, float* max_val, float* observed,
                    int32_t* rejected, int device) {
  check_count("minmax_observe", count);
  OCTET_CHECK(averaging_constant >= 0.0f && averaging_constant <= 1.0f, "minmax_observe",
              "averaging_constant must be 0 (running min/max) or in (0, 1], got ",
              averaging_constant);
  if (count == 0) return;
  cudaStream_t s = stream_on(device);
  minmax_observe_kernel<<<1, kThreads, 0, s>>>(batch_min, batch_max, count, averaging_constant,
                                               neg_min_val, max_val, observed, rejected);
  OCTET_CUDA_CHECK_LAUNCH();
}

void minmax_qparams(const float* neg_min_val, const float* max_val, int64_t count,
                    const quant::QuantSpec& spec, const float* observed, int margin, float* scales,
                    float* zero_points, int device) {
  check_count("minmax_qparams", count);
  if (count == 0) return;
  const bool fp8 = spec.is_fp8();
  const rules::IntRule rule =
      fp8 ? rules::IntRule{0.0f, 0.0f, 0.0f, quant::kMinScale, true} : rules::int_rule_of(spec);
  const float fp8_max = fp8 ? fp8_max_of(spec) : 0.0f;
  cudaStream_t s = stream_on(device);
  minmax_qparams_kernel<<<blocks_for(count), kThreads, 0, s>>>(
      neg_min_val, max_val, count, rule, fp8, fp8_max, observed, margin, scales, zero_points);
  OCTET_CUDA_CHECK_LAUNCH();
}

void int_qparams_from_ranges(const float* mins, const float* maxs, int64_t count,
                             const quant::QuantSpec& spec, float* scales, float* zero_points,
                             int device) {
  check_count("int_qparams_from_ranges", count);
  OCTET_CHECK(spec.format == quant::Format::kInt, "int_qparams_from_ranges",
              "integer qparams asked for ", spec.str());
  if (count == 0) return;
  cudaStream_t s = stream_on(device);
  int_qparams_kernel<<<blocks_for(count), kThreads, 0, s>>>(
      mins, maxs, count, rules::int_rule_of(spec), scales, zero_points);
  OCTET_CUDA_CHECK_LAUNCH();
}

void amax_history_scales(const float* amax_history, int64_t count, int64_t history_length,
                         bool most_recent, const quant::QuantSpec& spec, int margin,
                         const float* previous_scale, float* scales, int device) {
  check_count("amax_history_scales", count);
  OCTET_CHECK(spec.is_fp8() && history_length >= 1, "amax_history_scales",
              "needs an FP8 spec and a history of at least one row, got ", spec.str(), " and ",
              history_length);
  if (count == 0) return;
  cudaStream_t s = stream_on(device);
  amax_history_scales_kernel<<<blocks_for(count), kThreads, 0, s>>>(
      amax_history, count, history_length, most_recent, fp8_max_of(spec), margin, previous_scale,
      scales);
  OCTET_CUDA_CHECK_LAUNCH();
}

void amax_history_observe(const float* batch_amax, int64_t count, int64_t history_length,
                          bool most_recent, const quant::QuantSpec& spec, int margin,
                          float* amax_history, float* scale, int device) {
  check_count("amax_history_observe", count);
  OCTET_CHECK(spec.is_fp8() && history_length >= 1, "amax_history_observe",
              "needs an FP8 spec and a history of at least one row, got ", spec.str(), " and ",
              history_length);
  if (count == 0) return;
  cudaStream_t s = stream_on(device);
  amax_history_observe_kernel<<<blocks_for(count), kThreads, 0, s>>>(
      batch_amax, count, history_length, most_recent, fp8_max_of(spec), margin, amax_history,
      scale);
  OCTET_CUDA_CHECK_LAUNCH();
}

}  // namespace octet::cuda
