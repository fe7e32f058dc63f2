// Device tensors: host<->device round trips, strided copies and dtype conversions on the device
// against the CPU's, fill and zeros, autograd through .cuda()/.cpu(), and the caching allocator.
#include <gtest/gtest.h>

#include <cstring>
#include <iterator>
#include <limits>
#include <vector>

#include "framework/functional/arithmetic.h"
#include "framework/tensor/tensor.h"
#include "ops/cuda/runtime.h"
#include "tests/support/gpu_util.h"

namespace octet {
namespace {

using testing::gpu0;
using testing::max_abs_diff;

TEST(CudaTensor, RoundTripKeepsEveryByte) {
  OCTET_REQUIRE_GPU();
  Generator gen(1);
  for (DType t : {DType::f64, DType::f32, DType::bf16, DType::f16, DType::i32, DType::i8}) {
    Tensor x = (Tensor::randn({37, 19}, gen) * 20).to(t);
    Tensor back = x.cuda().cpu();
    EXPECT_EQ(back.device(), Device{});
    EXPECT_EQ(max_abs_diff(back, x), 0.0) << dtype_name(t);
  }
}

TEST(CudaTensor, StridedCopiesAndConversionsMatchTheCpu) {
  OCTET_REQUIRE_GPU();
  Generator gen(2);
  Tensor x = Tensor::randn({6, 5, 7}, gen) * 300;
  Tensor xd = x.cuda();
  // A permuted view made contiguous on each device.
  EXPECT_EQ(max_abs_diff(xd.permute({2, 0, 1}).contiguous(), x.permute({2, 0, 1}).contiguous()),
            0.0);
  EXPECT_EQ(max_abs_diff(xd.slice(1, 1, 4).contiguous(), x.slice(1, 1, 4).contiguous()), 0.0);
  // Conversions round exactly as the host's: bf16 and f16 to nearest even, ints truncate.
  for (DType t : {DType::bf16, DType::f16, DType::i32, DType::i8, DType::f64}) {
    Tensor host = x.transpose(0, 2).to(t);
    Tensor dev = xd.transpose(0, 2).to(t);
    EXPECT_EQ(dev.device(), gpu0());
    EXPECT_EQ(max_abs_diff(dev, host), 0.0) << dtype_name(t);
  }
}

// Dense f32 <-> bf16 casts (autocast's) run four elements per thread when the pointers allow it,
// and element by element otherwise: every length and start offset must round exactly as the host.
TEST(CudaTensor, DenseBf16CastsMatchTheCpuAtEveryLengthAndOffset) {
  OCTET_REQUIRE_GPU();
  Generator gen(3);
  std::vector<float> v = (Tensor::randn({4103}, gen) * 1000).to_vector<float>();
  // Ties to even both ways, the top of the range, infinities, a NaN and subnormals.
  const float specials[] = {1.00390625f,
                            1.01171875f,
                            3.3895314e38f,
                            3.4028235e38f,
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            1e-40f,
                            -1e-45f};
  for (size_t i = 0; i < std::size(specials); ++i) v[i * 7 + 1] = specials[i];
  const Tensor host = Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
  const Tensor dev = host.cuda();
  auto bits = [](const Tensor& t) {  // f32 view of the values, compared bit for bit
    const std::vector<float> f = t.cpu().to(DType::f32).to_vector<float>();
    std::vector<uint32_t> u(f.size());
    std::memcpy(u.data(), f.data(), f.size() * sizeof(float));
    return u;
  };
  const Tensor host_bf16 = host.to(DType::bf16), dev_bf16 = dev.to(DType::bf16);
  for (int64_t start : {0, 1, 2, 3, 4}) {
    for (int64_t len : {1, 3, 4, 5, 8, 63, 4096}) {
      const Tensor h = host.slice(0, start, start + len), d = dev.slice(0, start, start + len);
      ASSERT_EQ(bits(d.to(DType::bf16)), bits(h.to(DType::bf16)))
          << "f32 -> bf16, start " << start << " length " << len;
      const Tensor hb = host_bf16.slice(0, start, start + len);
      const Tensor db = dev_bf16.slice(0, start, start + len);
      ASSERT_EQ(bits(db.to(DType::f32)), bits(hb.to(DType::f32)))
          << "bf16 -> f32, start " << start << " length " << len;
    }
  }
}

TEST(CudaTensor, FillZerosAndItem) {
  OCTET_REQUIRE_GPU();
  Tensor z = Tensor::zeros({1000}, DType::f32, gpu0());
  Tensor f = Tensor::full({3, 4}, 2.5, DType::bf16, gpu0());
  EXPECT_EQ(max_abs_diff(z, Tensor::zeros({1000})), 0.0);
  EXPECT_EQ(max_abs_diff(f, Tensor::full({3, 4}, 2.5, DType::bf16)), 0.0);
  EXPECT_DOUBLE_EQ(f.slice(0, 2, 3).slice(1, 1, 2).item(), 2.5);
}

TEST(CudaTensor, HostAccessToADeviceTensorIsAClearError) {
  OCTET_REQUIRE_GPU();
  Tensor x = Tensor::zeros({4}, DType::f32, gpu0());
  try {
    (void)x.data<float>();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0"), std::string::npos) << e.what();
  }
}

TEST(CudaTensor, GradientFlowsBackAcrossDevices) {
  OCTET_REQUIRE_GPU();
  Generator gen(3);
  Tensor x = Tensor::randn({8}, gen).set_requires_grad();
  Tensor y = x.cuda().cpu();  // no device kernels needed: two copies
  sum(mul(y, y)).backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().device(), Device{});
  EXPECT_LT(max_abs_diff(x.grad(), x * 2), 1e-6);
}

TEST(CudaAllocator, ReusesFreedBlocks) {
  OCTET_REQUIRE_GPU();
  { Tensor warm = Tensor::empty({1 << 20}, DType::f32, gpu0()); }
  const cuda::AllocatorStats before = cuda::allocator_stats(0);
  for (int i = 0; i < 10; ++i) Tensor t = Tensor::empty({1 << 20}, DType::f32, gpu0());
  const cuda::AllocatorStats after = cuda::allocator_stats(0);
  EXPECT_EQ(after.device_allocations, before.device_allocations);
  EXPECT_GE(after.cache_hits, before.cache_hits + 10);
  cuda::empty_cache(0);
  EXPECT_EQ(cuda::allocator_stats(0).cached_bytes, 0u);
}

TEST(CudaDevice, MissingDeviceIsAClearError) {
  // Runs everywhere: with no GPU, or with fewer than 1000 of them, asking for one fails clearly.
  try {
    Tensor::empty({4}, DType::f32, Device{DeviceType::cuda, 999});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_TRUE(what.find("no CUDA device 999") != std::string::npos ||
                what.find("built without CUDA") != std::string::npos)
        << what;
  }
}

}  // namespace
}  // namespace octet
