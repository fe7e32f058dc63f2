// The FP8 codec against ml_dtypes (float8_e4m3fn, float8_e5m2) and PyTorch (torch.float8_e4m3fn,
// torch.float8_e5m2): all 256 codes decode alike, and a sweep of floats casts to the same codes.
// fp8_peer.py runs the peers' ordinary casts once for the suite (tests/support/peer_python.h
// explains the exchange and its cache, kept next to this executable in fp8_peer_cache/) and
// returns each cast as its decoded f32 value, which names the code bit-exactly except for NaN
// payloads: values must be bit-equal (so zeros agree in sign), NaNs only NaN on both sides.
//
// The peers' casts differ in their overflow rule, so each is compared with the octet mode it
// follows (and the log says how many elements the other mode would have differed in):
// - ml_dtypes is non-saturating for both formats: E4M3 overflow -> NaN, E5M2 overflow -> inf.
// - PyTorch (2.15) saturates E4M3 (finite overflow and +-inf -> +-448, as octet's saturating
//   mode and CUDA's satfinite) but not E5M2 (overflow -> +-inf).
// Without the peer venv every test is skipped with the reason.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "ops/quant/fp8.h"
#include "tests/support/peer_python.h"

namespace octet::quant {
namespace {

using octet::testing::PeerCase;

constexpr float kInf = std::numeric_limits<float>::infinity();

const char* name_of(Fp8Format f) { return f == Fp8Format::kE4M3 ? "e4m3" : "e5m2"; }

bool same_value(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

// Values around every code of a format: the code's value, the midpoints to its neighbours (up to
// the first value beyond the max, 480 or 65536), and the float neighbours of both; both signs.
void add_code_neighbourhoods(Fp8Format f, std::vector<float>& out) {
  const int max_code = f == Fp8Format::kE4M3 ? 0x7e : 0x7b;
  const float beyond = f == Fp8Format::kE4M3 ? 480.0f : 65536.0f;
  for (int c = 0; c <= max_code; ++c) {
    const float v = fp8_decode(static_cast<uint8_t>(c), f);
    const float next = c == max_code ? beyond : fp8_decode(static_cast<uint8_t>(c + 1), f);
    const float mid = 0.5f * (v + next);
    for (float x : {v, mid}) {
      for (float y : {x, std::nextafter(x, kInf), std::nextafter(x, -kInf)}) {
        out.push_back(y);
        out.push_back(-y);
      }
    }
  }
}

// A sweep over all float bit patterns with a prime stride (every exponent, varied mantissas,
// NaNs, infinities), the neighbourhoods of both formats' codes, and the specials.
std::vector<float> sweep_inputs() {
  std::vector<float> out;
  constexpr uint64_t kStride = 4093;
  for (uint64_t b = 0; b < (uint64_t{1} << 32); b += kStride) {
    out.push_back(std::bit_cast<float>(static_cast<uint32_t>(b)));
  }
  add_code_neighbourhoods(Fp8Format::kE4M3, out);
  add_code_neighbourhoods(Fp8Format::kE5M2, out);
  for (float s : {kInf, -kInf, std::numeric_limits<float>::quiet_NaN(), 0.0f, -0.0f, 1e38f, -1e38f,
                  std::numeric_limits<float>::denorm_min()}) {
    out.push_back(s);
  }
  return out;
}

std::vector<float> all_codes() {
  std::vector<float> codes(256);
  for (int c = 0; c < 256; ++c) codes[c] = static_cast<float>(c);
  return codes;
}

class Fp8Peer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    namespace fs = std::filesystem;
    inputs() = sweep_inputs();
    const auto n = static_cast<int64_t>(inputs().size());
    std::vector<PeerCase> cases;
    cases.push_back({"codes", "decode", {{"x", Tensor::from_vector(all_codes(), {256})}}, {}});
    cases.push_back({"sweep", "roundtrip", {{"x", Tensor::from_vector(inputs(), {n})}}, {}});
    const fs::path cache = fs::read_symlink("/proc/self/exe").parent_path() / "fp8_peer_cache";
    results() = testing::run_peer_script(fs::path(OCTET_SOURCE_DIR) / "tests/peer/fp8_peer.py",
                                         cases, cache);
  }

  void SetUp() override {
    if (!results().skip_reason.empty()) GTEST_SKIP() << results().skip_reason;
    ASSERT_TRUE(results().failure.empty()) << results().failure;
  }

  static std::vector<float>& inputs() {
    static std::vector<float> x;
    return x;
  }
  static testing::PeerResults& results() {
    static testing::PeerResults r;
    return r;
  }

  static std::vector<float> peer(const std::string& name, int64_t n) {
    std::vector<float> values;
    std::string why;
    EXPECT_TRUE(testing::read_peer_f32(results().folder, name, n, values, why)) << why;
    return values;
  }

  static void expect_decodes_alike(const std::string& peer_name, Fp8Format f) {
    const std::vector<float> ref = peer("codes." + peer_name + "_" + name_of(f), 256);
    if (ref.empty()) return;
    for (int c = 0; c < 256; ++c) {
      const float got = fp8_decode(static_cast<uint8_t>(c), f);
      EXPECT_TRUE(same_value(got, ref[c])) << peer_name << " " << name_of(f) << " code " << c
                                           << ": octet " << got << " peer " << ref[c];
    }
  }

  // The peer's cast of every sweep input against octet's decode(encode(x, saturate)).
  static void expect_casts_alike(const std::string& peer_name, Fp8Format f, bool saturate) {
    const std::vector<float>& x = inputs();
    const auto n = static_cast<int64_t>(x.size());
    const std::vector<float> ref = peer("sweep." + peer_name + "_" + name_of(f), n);
    if (ref.empty()) return;
    int64_t bad = 0, other_mode_bad = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float got = fp8_decode(fp8_encode(x[i], f, saturate), f);
      const float other = fp8_decode(fp8_encode(x[i], f, !saturate), f);
      other_mode_bad += !same_value(other, ref[i]);
      if (!same_value(got, ref[i]) && bad++ < 5) {
        ADD_FAILURE() << peer_name << " " << name_of(f) << " x=" << x[i] << " (0x" << std::hex
                      << std::bit_cast<uint32_t>(x[i]) << std::dec << "): octet " << got << " peer "
                      << ref[i];
      }
    }
    std::printf("[fp8 peer] %-8s %s vs octet %-14s %lld of %lld differ (%lld in the other mode)\n",
                peer_name.c_str(), name_of(f),
                saturate ? "saturating:" : "non-saturating:", static_cast<long long>(bad),
                static_cast<long long>(n), static_cast<long long>(other_mode_bad));
    EXPECT_EQ(bad, 0) << peer_name << " " << name_of(f) << " differs from octet's "
                      << (saturate ? "saturating" : "non-saturating") << " mode; the other mode "
                      << "differs in " << other_mode_bad << " elements";
  }
};

TEST_F(Fp8Peer, MlDtypesDecodesAllCodesAlike) {
  expect_decodes_alike("mldtypes", Fp8Format::kE4M3);
  expect_decodes_alike("mldtypes", Fp8Format::kE5M2);
}

TEST_F(Fp8Peer, TorchDecodesAllCodesAlike) {
  expect_decodes_alike("torch", Fp8Format::kE4M3);
  expect_decodes_alike("torch", Fp8Format::kE5M2);
}

TEST_F(Fp8Peer, MlDtypesCastsLikeNonSaturatingMode) {
  expect_casts_alike("mldtypes", Fp8Format::kE4M3, /*saturate=*/false);
  expect_casts_alike("mldtypes", Fp8Format::kE5M2, /*saturate=*/false);
}

TEST_F(Fp8Peer, TorchCastsE4M3LikeSaturatingAndE5M2LikeNonSaturatingMode) {
  expect_casts_alike("torch", Fp8Format::kE4M3, /*saturate=*/true);
  expect_casts_alike("torch", Fp8Format::kE5M2, /*saturate=*/false);
}

}  // namespace
}  // namespace octet::quant
