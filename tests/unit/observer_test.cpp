// Observers on hand-computable inputs: every family per tensor and per channel, the moving
// average's closed form, histogram percentiles, the MSE search, FP8 amax histories, freezing,
// save/load through the buffers, the MAX all-reduce the buffers are laid out for, and the errors on
// misfits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "framework/random.h"
#include "ops/quant/fp8.h"
#include "ops/quant/scale_rules.h"
#include "qat/amax_history_observer.h"
#include "qat/histogram_observer.h"
#include "qat/minmax_observer.h"
#include "qat/mse_observer.h"

namespace octet::qat {
namespace {

using quant::QuantSpec;
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

Tensor tensor(const std::vector<float>& v, const Shape& shape) {
  return Tensor::from_vector(v, shape);
}
Tensor tensor(const std::vector<float>& v) { return tensor(v, {static_cast<int64_t>(v.size())}); }
std::vector<float> scales(const QParams& p) { return p.scale.to_vector<float>(); }

std::vector<float> draw(int64_t n, Generator& gen, double (*sample)(Generator&)) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = static_cast<float>(sample(gen));
  return v;
}
double uniform_pm1(Generator& g) { return 2.0 * g.uniform() - 1.0; }
double laplace(Generator& g) {
  return (g.uniform() < 0.5 ? -1.0 : 1.0) * -std::log1p(-g.uniform());
}

ObserverOptions options(ObserverKind kind, int64_t history_length = 16) {
  ObserverOptions o;
  o.kind = kind;
  o.history_length = history_length;
  return o;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}
bool has(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

// ---- min-max families ---------------------------------------------------------------------

TEST(MinMaxObserver, PerTensorRunningRangeGivesTheClosedForms) {
  auto sym = make_observer(QuantSpec::int8_symmetric(), 1);
  auto affine = make_observer(QuantSpec::int8_affine(), 1);
  for (auto& o : {sym, affine}) {
    o->observe(tensor({-1.0f, 0.5f, 2.0f}));
    o->observe(tensor({-3.0f, 1.0f}, {1, 2}));  // any shape per tensor
  }
  EXPECT_FLOAT_EQ(scales(sym->qparams())[0], 3.0f / 127.0f);
  EXPECT_FALSE(sym->qparams().zero_point.defined());
  // [-3, 2]: s = 5 / 255, zp = -128 - round(-3 / s) = -128 + 153.
  EXPECT_FLOAT_EQ(scales(affine->qparams())[0], 5.0f / 255.0f);
  EXPECT_EQ(affine->qparams().zero_point.to_vector<float>()[0], 25.0f);
}

TEST(MinMaxObserver, PerChannelOnAnyAxis) {
  const Tensor x = tensor({1, -2, 3, 0.5f, 0.25f, -0.125f}, {2, 3});
  auto rows = make_observer(QuantSpec::int8_symmetric().per_channel(0), 2);
  rows->observe(x);
  EXPECT_EQ(rows->qparams().scale.shape(), (Shape{2}));
  EXPECT_FLOAT_EQ(scales(rows->qparams())[0], 3.0f / 127.0f);
  EXPECT_FLOAT_EQ(scales(rows->qparams())[1], 0.5f / 127.0f);
  auto groups = make_observer(QuantSpec::int8_symmetric().per_group(3), 2);  // a group per row
  groups->observe(x);
  EXPECT_EQ(scales(groups->qparams()), scales(rows->qparams()));
  auto cols = make_observer(QuantSpec::uint8_affine().per_channel(1), 3);
  cols->observe(x);
  const std::vector<float> s = scales(cols->qparams());
  EXPECT_FLOAT_EQ(s[0], 1.0f / 255.0f);   // [0.5, 1] widened to [0, 1]
  EXPECT_FLOAT_EQ(s[1], 2.25f / 255.0f);  // [-2, 0.25]
  EXPECT_FLOAT_EQ(s[2], 3.125f / 255.0f);
  EXPECT_EQ(cols->qparams().zero_point.to_vector<float>()[1], 227.0f);  // -round(-2 / s)
}

TEST(MinMaxObserver, BeforeDataScaleIsOneAndZeroPointIsTheRuleForZero) {
  EXPECT_EQ(scales(make_observer(QuantSpec::int8_symmetric(), 1)->qparams())[0], 1.0f);
  const QParams affine = make_observer(QuantSpec::int8_affine().per_channel(0), 3)->qparams();
  EXPECT_EQ(scales(affine), std::vector<float>(3, 1.0f));
  EXPECT_EQ(affine.zero_point.to_vector<float>(), std::vector<float>(3, -128.0f));
  EXPECT_EQ(make_observer(QuantSpec::uint8_affine(), 1)->qparams().zero_point.item(), 0.0);
  EXPECT_EQ(scales(make_observer(QuantSpec::fp8_e4m3(), 1)->qparams())[0], 1.0f);
}

TEST(MinMaxObserver, Fp8SpecUsesFormatMaxOverAmaxWithMargin) {
  ObserverOptions o;
  o.margin = 1;
  auto obs = make_observer(QuantSpec::fp8_e4m3(), 1, o);
  obs->observe(tensor({-4.0f, 1.0f}));
  EXPECT_FLOAT_EQ(scales(obs->qparams())[0], 448.0f / 4.0f / 2.0f);
}

TEST(MovingAverageMinMaxObserver, MatchesTheClosedFormAfterThreeBatches) {
  ObserverOptions o = options(ObserverKind::kMovingAverageMinMax);
  o.averaging_constant = 0.25;
  auto obs = make_observer(QuantSpec::int8_affine().per_channel(0), 2, o);
  obs->observe(tensor({-1, 2, -10, 10}, {2, 2}));
  obs->observe(tensor({-3, 4, 0, 20}, {2, 2}));
  obs->observe(tensor({-2, 1, -30, 5}, {2, 2}));
  const auto& ma = dynamic_cast<const MinMaxObserver&>(*obs);
  const float c = 0.25f;
  float min0 = -1, max0 = 2, min1 = -10, max1 = 10;
  min0 += c * (-3 - min0), max0 += c * (4 - max0), min1 += c * (0 - min1), max1 += c * (20 - max1);
  min0 += c * (-2 - min0), max0 += c * (1 - max0), min1 += c * (-30 - min1), max1 += c * (5 - max1);
  EXPECT_EQ(ma.min_val(), (std::vector<float>{min0, min1}));
  EXPECT_EQ(ma.max_val(), (std::vector<float>{max0, max1}));
  EXPECT_FLOAT_EQ(scales(obs->qparams())[1], (max1 - min1) / 255.0f);
}

// ---- histogram ----------------------------------------------------------------------------

std::vector<float> evenly_spaced(int64_t n, float lo, float hi) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = lo + (hi - lo) * (i + 0.5f) / n;
  return v;
}

TEST(HistogramObserver, PercentileOfAbsoluteValuesWithinOneBin) {
  ObserverOptions o = options(ObserverKind::kHistogram);
  o.percentile = 99.0;
  auto obs = make_observer(QuantSpec::int8_symmetric(), 1, o);
  const auto& h = dynamic_cast<const HistogramObserver&>(*obs);
  // |x| uniform on [0, 0.5] and then on [0, 1]: the range grows and the first batch is re-binned.
  // The mixture's CDF above 0.5 is (1 + v) / 2, so its 99th percentile is 0.98.
  std::vector<float> first = evenly_spaced(100000, -0.5f, 0.5f);
  obs->observe(tensor(first));
  EXPECT_NEAR(h.clip_range().second, 0.495, h.bin_width());
  obs->observe(tensor(evenly_spaced(100000, -1.0f, 1.0f)));
  EXPECT_NEAR(h.range().second, 1.0, 1e-4);
  EXPECT_NEAR(h.clip_range().second, 0.98, h.bin_width());
  EXPECT_NEAR(scales(obs->qparams())[0], h.clip_range().second / 127.0f, 1e-9);
}

TEST(HistogramObserver, AffineSpecClipsBothTails) {
  ObserverOptions o = options(ObserverKind::kHistogram);
  o.percentile = 99.0;
  auto obs = make_observer(QuantSpec::uint8_affine(), 1, o);
  obs->observe(tensor(evenly_spaced(200000, -1.0f, 3.0f)));
  const auto& h = dynamic_cast<const HistogramObserver&>(*obs);
  EXPECT_NEAR(h.clip_range().first, -0.96, h.bin_width());
  EXPECT_NEAR(h.clip_range().second, 2.96, h.bin_width());
}

TEST(HistogramObserver, PerChannelSpecIsRefused) {
  const QuantSpec spec = QuantSpec::int8_symmetric().per_channel(0);
  const ObserverOptions o = options(ObserverKind::kHistogram);
  EXPECT_TRUE(has(error_of([&] { make_observer(spec, 4, o); }), "per-tensor specs only"));
}

// ---- MSE ----------------------------------------------------------------------------------

// Mean squared error of integer fake-quant with (s, zp), PyTorch's arithmetic.
double int_mse(const std::vector<float>& x, const QuantSpec& spec, float s, float zp) {
  double e = 0.0;
  const float inv = 1.0f / s, qmin = spec.qmin, qmax = spec.qmax;
  for (float v : x) {
    const float y = (std::clamp(std::nearbyint(v * inv) + zp, qmin, qmax) - zp) * s;
    e += (y - v) * (static_cast<double>(y) - v);
  }
  return e / x.size();
}

float abs_max_of(const std::vector<float>& x) {
  float m = 0.0f;
  for (float v : x) m = std::max(m, std::fabs(v));
  return m;
}

TEST(MseObserver, HeavyTailsAreClippedAtTheDataOptimum) {
  Generator gen(11);
  const std::vector<float> x = draw(200000, gen, laplace);
  const QuantSpec spec = QuantSpec::int8_symmetric();
  auto obs = make_observer(spec, 1, options(ObserverKind::kMse));
  obs->observe(tensor(x));
  const float amax = abs_max_of(x);
  EXPECT_LT(dynamic_cast<const MseObserver&>(*obs).clip_ranges()[0].second, 0.9f * amax);
  // Against the data itself: as good as the best of the 100 candidates, and better than min-max.
  double best = std::numeric_limits<double>::infinity();
  for (int k = 1; k <= 100; ++k) {
    const float t = amax * k / 100.0f;
    best = std::min(best, int_mse(x, spec, quant::int_qparams(spec, -t, t).scale, 0.0f));
  }
  const double chosen = int_mse(x, spec, scales(obs->qparams())[0], 0.0f);
  EXPECT_LE(chosen, best * 1.01);
  EXPECT_LT(chosen, 0.9 * int_mse(x, spec, amax / 127.0f, 0.0f));
}

TEST(MseObserver, PerChannelKeepsAmaxForUniformAndClipsHeavyTails) {
  Generator gen(5);
  const int64_t n = 100000;
  std::vector<float> x = draw(n, gen, uniform_pm1), tail = draw(n, gen, laplace);
  x.insert(x.end(), tail.begin(), tail.end());
  auto obs =
      make_observer(QuantSpec::int8_symmetric().per_channel(0), 2, options(ObserverKind::kMse));
  obs->observe(tensor(x, {2, n}));
  const auto clips = dynamic_cast<const MseObserver&>(*obs).clip_ranges();
  EXPECT_GE(clips[0].second, 0.97f * abs_max_of({x.begin(), x.begin() + n}));
  EXPECT_LT(clips[1].second, 0.9f * abs_max_of(tail));
}

TEST(MseObserver, AffineAndFp8ChoicesBeatMinMaxOnTheData) {
  Generator gen(9);
  std::vector<float> x = draw(100000, gen, laplace);
  for (float& v : x) v = 0.5f * v + 1.0f;
  const QuantSpec affine = QuantSpec::uint8_affine();
  auto obs = make_observer(affine, 1, options(ObserverKind::kMse));
  obs->observe(tensor(x));
  auto minmax = make_observer(affine, 1);
  minmax->observe(tensor(x));
  const auto mse_error = [&](const QParams& p) {
    return int_mse(x, affine, scales(p)[0], p.zero_point.to_vector<float>()[0]);
  };
  EXPECT_LT(mse_error(obs->qparams()), mse_error(minmax->qparams()));

  const QuantSpec fp8 = QuantSpec::fp8_e4m3();
  auto fp8_obs = make_observer(fp8, 1, options(ObserverKind::kMse));
  fp8_obs->observe(tensor(x));
  const auto fp8_error = [&](float s) {
    double e = 0.0;
    for (float v : x) {
      const float y = quant::fp8_decode(quant::fp8_encode(v * s, quant::Fp8Format::kE4M3, true),
                                        quant::Fp8Format::kE4M3) /
                      s;
      e += (y - v) * (static_cast<double>(y) - v);
    }
    return e;
  };
  EXPECT_LE(fp8_error(scales(fp8_obs->qparams())[0]), 1.01 * fp8_error(448.0f / abs_max_of(x)));
}

// ---- FP8 amax history -----------------------------------------------------------------------

TEST(AmaxHistoryObserver, DelayedScalingTakesTheMaxOfTheWindow) {
  auto obs = make_observer(QuantSpec::fp8_e4m3(), 1, options(ObserverKind::kAmaxHistory, 3));
  EXPECT_EQ(scales(obs->qparams())[0], 1.0f);
  for (float a : {2.0f, 4.0f, 1.0f}) obs->observe(tensor({a, -a / 2}));
  EXPECT_FLOAT_EQ(scales(obs->qparams())[0], 448.0f / 4.0f);
  obs->observe(tensor({0.5f}));  // window 0.5, 1, 4
  EXPECT_FLOAT_EQ(scales(obs->qparams())[0], 448.0f / 4.0f);
  obs->observe(tensor({-0.5f}));  // window 0.5, 0.5, 1: the 4 has slid out
  EXPECT_FLOAT_EQ(scales(obs->qparams())[0], 448.0f);
  EXPECT_EQ(obs->named_buffers()[1].second.to_vector<float>(),
            (std::vector<float>{0.5f, 0.5f, 1.0f}));
}

TEST(AmaxHistoryObserver, MostRecentWithMarginPerChannel) {
  ObserverOptions o = options(ObserverKind::kAmaxHistory, 4);
  o.history_most_recent = true;
  o.margin = 2;
  auto obs = make_observer(QuantSpec::fp8_e5m2().per_channel(0), 2, o);
  obs->observe(tensor({4, -8, 1, 0.5f}, {2, 2}));
  obs->observe(tensor({1, 1, 2, -2}, {2, 2}));
  EXPECT_EQ(scales(obs->qparams()), (std::vector<float>{57344.0f / 4, 57344.0f / 2 / 4}));
}

TEST(AmaxHistoryObserver, CurrentScalingKeepsThePreviousScaleOnZeroInfAndNan) {
  auto obs = make_observer(QuantSpec::fp8_e4m3(), 1, options(ObserverKind::kAmaxHistory, 1));
  obs->observe(tensor({2.0f}));
  EXPECT_EQ(scales(obs->qparams())[0], 224.0f);
  for (const std::vector<float>& bad : {std::vector<float>{kNaN, 1.0f}, {0.0f, 0.0f}, {-kInf}}) {
    obs->observe(tensor(bad));
    EXPECT_EQ(scales(obs->qparams())[0], 224.0f);
  }
  obs->observe(tensor({4.0f}));
  EXPECT_EQ(scales(obs->qparams())[0], 112.0f);
}

TEST(AmaxHistoryObserver, NanStaysInTheWindowUntilItSlidesOut) {
  auto obs = make_observer(QuantSpec::fp8_e4m3(), 1, options(ObserverKind::kAmaxHistory, 2));
  obs->observe(tensor({1.0f}));
  obs->observe(tensor({kNaN}));
  EXPECT_EQ(scales(obs->qparams())[0], 448.0f);
  obs->observe(tensor({2.0f}));  // window 2, NaN
  EXPECT_EQ(scales(obs->qparams())[0], 448.0f);
  obs->observe(tensor({2.0f}));  // window 2, 2
  EXPECT_EQ(scales(obs->qparams())[0], 224.0f);
}

// ---- every family: freeze, save/load, MAX all-reduce, errors ----------------------------------

struct Family {
  ObserverOptions options;
  QuantSpec spec;
};

std::vector<Family> families() {
  std::vector<Family> out;
  for (ObserverKind kind :
       {ObserverKind::kMinMax, ObserverKind::kMovingAverageMinMax, ObserverKind::kHistogram,
        ObserverKind::kMse, ObserverKind::kAmaxHistory}) {
    out.push_back({options(kind), kind == ObserverKind::kAmaxHistory ? QuantSpec::fp8_e4m3()
                                                                     : QuantSpec::int8_affine()});
  }
  return out;
}

TEST(Observer, FreezeStopsUpdates) {
  Generator gen(2);
  const std::vector<float> x = draw(1000, gen, laplace);
  for (const Family& f : families()) {
    auto obs = make_observer(f.spec, 1, f.options);
    obs->observe(tensor(x));
    const std::vector<float> before = scales(obs->qparams());
    obs->freeze();
    obs->observe(tensor({-100.0f, 100.0f}));
    EXPECT_TRUE(obs->frozen());
    EXPECT_EQ(scales(obs->qparams()), before) << obs->type_name();
    obs->freeze(false);
    obs->observe(tensor({-100.0f, 100.0f}));
    obs->observe(tensor({-100.0f, 100.0f}));
    EXPECT_NE(scales(obs->qparams()), before) << obs->type_name();
  }
}

TEST(Observer, StateSurvivesSaveAndLoadThroughBuffers) {
  Generator gen(4);
  const std::vector<float> x = draw(3000, gen, laplace);
  for (const Family& f : families()) {
    auto saved = make_observer(f.spec, 1, f.options);
    saved->observe(tensor(x));
    saved->observe(tensor({x.begin(), x.begin() + 100}));
    nn::NamedTensors state;
    for (const auto& [name, t] : saved->named_buffers()) {
      EXPECT_EQ(t.dtype(), DType::f32) << name;
      state.emplace_back(name, t.clone());
    }
    EXPECT_EQ(state.front().first, "observed");
    auto loaded = make_observer(f.spec, 1, f.options);
    EXPECT_FALSE(loaded->has_observed());
    loaded->load_state(state);
    EXPECT_TRUE(loaded->has_observed()) << saved->type_name();
    EXPECT_EQ(scales(loaded->qparams()), scales(saved->qparams())) << saved->type_name();
    if (saved->qparams().zero_point.defined()) {
      EXPECT_EQ(loaded->qparams().zero_point.to_vector<float>(),
                saved->qparams().zero_point.to_vector<float>());
    }
  }
}

TEST(Observer, MaxAllReduceOfBuffersEqualsObservingEveryRanksBatch) {
  Generator gen(8);
  const std::vector<float> common = draw(12, gen, laplace), a = draw(12, gen, laplace),
                           b = draw(12, gen, laplace);
  std::vector<float> both;  // a and b side by side along axis 1: one global batch of [3, 8]
  for (int r = 0; r < 3; ++r) {
    both.insert(both.end(), a.begin() + 4 * r, a.begin() + 4 * r + 4);
    both.insert(both.end(), b.begin() + 4 * r, b.begin() + 4 * r + 4);
  }
  for (const Family& f : families()) {
    if (f.options.kind == ObserverKind::kHistogram || f.options.kind == ObserverKind::kMse)
      continue;  // histograms are summed over a shared range, not MAX-reduced
    const QuantSpec spec = f.spec.per_channel(0);
    auto rank0 = make_observer(spec, 3, f.options), rank1 = make_observer(spec, 3, f.options);
    auto global = make_observer(spec, 3, f.options);
    for (auto* o : {&rank0, &rank1, &global}) (*o)->observe(tensor(common, {3, 4}));
    rank0->observe(tensor(a, {3, 4}));
    rank1->observe(tensor(b, {3, 4}));
    global->observe(tensor(both, {3, 8}));
    const auto s0 = rank0->named_buffers(), s1 = rank1->named_buffers();
    const auto sg = global->named_buffers();
    for (size_t i = 0; i < sg.size(); ++i) {
      std::vector<float> v0 = s0[i].second.to_vector<float>();
      const std::vector<float> v1 = s1[i].second.to_vector<float>();
      for (size_t j = 0; j < v0.size(); ++j) v0[j] = std::max(v0[j], v1[j]);
      EXPECT_EQ(v0, sg[i].second.to_vector<float>()) << global->type_name() << " " << sg[i].first;
    }
  }
}

TEST(Observer, MisfitShapesThrowNamingBoth) {
  auto obs = make_observer(QuantSpec::int8_symmetric().per_channel(0), 4);
  const std::string msg = error_of([&] { obs->observe(Tensor::zeros({3, 5})); });
  EXPECT_TRUE(has(msg, "MinMaxObserver") && has(msg, "[3, 5]") && has(msg, "[4]")) << msg;
  auto axis2 = make_observer(QuantSpec::int8_symmetric().per_channel(2), 4);
  EXPECT_TRUE(has(error_of([&] { axis2->observe(Tensor::zeros({4, 4})); }), "[4, 4]"));
  EXPECT_TRUE(has(error_of([&] { obs->observe(Tensor::zeros({4, 2}, DType::f64)); }), "f64"));
  EXPECT_THROW(make_observer(QuantSpec::int8_symmetric(), 2), Error);
}

TEST(Observer, SpecsWithNothingToObserveOrTheWrongFormatAreRefused) {
  const QuantSpec int8 = QuantSpec::int8_symmetric();
  EXPECT_TRUE(has(error_of([&] { make_observer(int8.per_token(), 8); }), "per-token"));
  const ObserverOptions history = options(ObserverKind::kAmaxHistory);
  EXPECT_TRUE(has(error_of([&] { make_observer(int8, 1, history); }), "integer spec"));
  ObserverOptions bad;
  bad.averaging_constant = 0.0;
  EXPECT_THROW(make_observer(QuantSpec::int8_symmetric(), 1, bad), Error);
}

TEST(Observer, NonFiniteBatchesThrowAndLeaveTheStatisticsUnchanged) {
  for (const Family& f : families()) {
    if (f.options.kind == ObserverKind::kAmaxHistory) continue;  // records them by design
    auto obs = make_observer(f.spec, 1, f.options);
    obs->observe(tensor({-1.0f, 2.0f}));
    const std::vector<float> before = scales(obs->qparams());
    for (float bad : {kNaN, kInf}) {
      const std::string msg = error_of([&] { obs->observe(tensor({0.0f, bad, 5.0f})); });
      EXPECT_TRUE(has(msg, "NaN or infinite")) << msg;
      EXPECT_EQ(scales(obs->qparams()), before) << obs->type_name();
    }
  }
}

}  // namespace
}  // namespace octet::qat
