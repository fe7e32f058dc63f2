// The MPI communicator's collectives, the statistics sync of observers, and DataParallel's
// bucketed gradient averaging, as 2 ranks under mpirun (ctest runs this file that way).
#include <gtest/gtest.h>

#include <cmath>

#include "../support/dist_util.h"
#include "framework/functional/arithmetic.h"
#include "framework/nn/layers.h"
#include "framework/parallel/data_parallel.h"
#include "framework/parallel/statistics_sync.h"
#include "qat/minmax_observer.h"

namespace octet {
namespace {

using parallel::ReduceOp;
using testing::dist_world;

TEST(MpiCommunicator, RunsAsTwoRanks) {
  parallel::Communicator& w = dist_world();
  EXPECT_EQ(w.backend(), "mpi");
  EXPECT_EQ(w.size(), 2);
}

TEST(MpiCommunicator, AllReduceSumMaxMinAvg) {
  parallel::Communicator& w = dist_world();
  const float r = static_cast<float>(w.rank());
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kMin, ReduceOp::kAvg}) {
    Tensor t = Tensor::from_vector<float>({r, -r, 10 * r + 1}, {3});
    w.allreduce(t, op);
    const std::vector<float> v = t.to_vector<float>();
    switch (op) {
      case ReduceOp::kSum:
        EXPECT_EQ(v, (std::vector<float>{1, -1, 12}));
        break;
      case ReduceOp::kMax:
        EXPECT_EQ(v, (std::vector<float>{1, 0, 11}));
        break;
      case ReduceOp::kMin:
        EXPECT_EQ(v, (std::vector<float>{0, -1, 1}));
        break;
      case ReduceOp::kAvg:
        EXPECT_EQ(v, (std::vector<float>{0.5f, -0.5f, 6}));
        break;
    }
  }
  Tensor counts = Tensor::from_vector<int64_t>({w.rank() + 1}, {1});
  w.allreduce(counts, ReduceOp::kSum);
  EXPECT_EQ(counts.to_vector<int64_t>()[0], 3);
  EXPECT_DOUBLE_EQ(w.allreduce_scalar(w.rank() == 0 ? 2.0 : 4.0, ReduceOp::kAvg), 3.0);
}

TEST(MpiCommunicator, BroadcastAllGatherReduceScatterBarrier) {
  parallel::Communicator& w = dist_world();
  Tensor b = Tensor::full({4}, w.rank() == 1 ? 7.0 : 0.0);
  w.broadcast(b, 1);
  EXPECT_EQ(b.to_vector<float>(), std::vector<float>(4, 7.0f));

  const Tensor g = w.allgather(Tensor::full({2, 2}, w.rank() + 1.0, DType::f64));
  ASSERT_EQ(g.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(g.to_vector<double>(), (std::vector<double>{1, 1, 1, 1, 2, 2, 2, 2}));

  // Rows 0-1 go to rank 0, rows 2-3 to rank 1; each holds the sum over ranks.
  const Tensor rs =
      w.reduce_scatter(Tensor::from_vector<float>({1, 2, 3, 4}, {4}).reshape({4}), ReduceOp::kSum);
  const std::vector<float> expect =
      w.rank() == 0 ? std::vector<float>{2, 4} : std::vector<float>{6, 8};
  EXPECT_EQ(rs.to_vector<float>(), expect);
  w.barrier();
  EXPECT_THROW(w.reduce_scatter(Tensor::zeros({3}), ReduceOp::kSum), Error);
}

// Each rank sees different data; inside a sync scope the observer's statistics are the global
// batch's, bitwise equal on both ranks; outside one they stay local (and differ).
TEST(StatisticsSync, ObserversAgreeOnlyInsideTheScope) {
  parallel::Communicator& w = dist_world();
  const quant::QuantSpec spec = quant::QuantSpec::int8_symmetric();
  const float r = static_cast<float>(w.rank());
  const Tensor local = Tensor::from_vector<float>({-1 - r, 2 + 3 * r, 0.5f}, {3});

  qat::MovingAverageMinMaxObserver outside(spec, 1);
  outside.observe(local);
  outside.observe(local);
  EXPECT_EQ(testing::differing_across_ranks(outside.named_buffers(), w), 2);  // min and max

  qat::MovingAverageMinMaxObserver inside(spec, 1);
  {
    parallel::StatisticsSyncScope scope(w);
    inside.observe(local);
    inside.observe(mul(local, 2.0));
  }
  EXPECT_EQ(testing::differing_across_ranks(inside.named_buffers(), w), 0);
  // The global range: min -2 then -4, max 5 then 10 (moving average with c = 0.01).
  EXPECT_FLOAT_EQ(inside.min_val()[0], -2.0f + 0.01f * (-4.0f + 2.0f));
  EXPECT_FLOAT_EQ(inside.max_val()[0], 5.0f + 0.01f * (10.0f - 5.0f));
}

// A tiny MLP: DataParallel's gradients equal the average of the ranks' own gradients, for
// buckets small enough that there are several, with and without the background thread, and with
// gradient accumulation (no sync until the last micro-step).
class TwoLayer : public nn::Module {
 public:
  explicit TwoLayer(Generator& g)
      : a(register_module("a", std::make_shared<nn::Linear>(6, 16, true, g))),
        b(register_module("b", std::make_shared<nn::Linear>(16, 3, true, g))) {}
  std::string type_name() const override { return "TwoLayer"; }
  Tensor forward(const Tensor& x) { return b->forward(relu(a->forward(x))); }
  nn::Child<nn::Linear> a, b;
};

TEST(DataParallel, AveragesGradientsInOrderedBuckets) {
  parallel::Communicator& w = dist_world();
  for (bool overlap : {true, false}) {
    // Rank 1 starts from other weights: the constructor's broadcast must replace them.
    Generator init(11 + static_cast<uint64_t>(w.rank()));
    TwoLayer model(init);
    parallel::DataParallel dp(model, w, {/*bucket_bytes=*/64, overlap});
    EXPECT_EQ(testing::differing_across_ranks(model.named_parameters(), w), 0);
    EXPECT_GE(dp.bucket_count(), 3);

    Generator data(100 + static_cast<uint64_t>(w.rank()));
    const Tensor x1 = Tensor::randn({5, 6}, data), x2 = Tensor::randn({5, 6}, data);
    // The local gradients of both micro-batches, then every rank's, by hand.
    sum(model.forward(x1)).backward();
    sum(model.forward(x2)).backward();
    std::vector<Tensor> expected;
    for (const Tensor& p : model.parameters()) {
      Tensor g = p.grad().contiguous();
      w.allreduce(g, ReduceOp::kAvg);
      expected.push_back(g);
    }
    model.zero_grad();
    dp.backward(sum(model.forward(x1)), /*sync=*/false);
    dp.backward(sum(model.forward(x2)), /*sync=*/true);
    const std::vector<Tensor> params = model.parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      const std::vector<float> got = params[i].grad().to_vector<float>();
      const std::vector<float> want = expected[i].to_vector<float>();
      ASSERT_EQ(got.size(), want.size());
      for (size_t j = 0; j < got.size(); ++j) EXPECT_NEAR(got[j], want[j], 1e-6f) << i << "," << j;
    }
    EXPECT_EQ(testing::differing_across_ranks(
                  [&] {
                    nn::NamedTensors grads;
                    for (const auto& [n, p] : model.named_parameters())
                      grads.push_back({n, p.grad()});
                    return grads;
                  }(),
                  w),
              0);
    EXPECT_EQ(dp.last_timing().buckets, dp.bucket_count());
  }
}

}  // namespace
}  // namespace octet
