// The NCCL backend on a GPU machine: one rank (one GPU cannot host two NCCL ranks) runs the
// collectives and a data-parallel QAT step through NCCL. Skips where this build has no NCCL or
// no GPU is visible, which is every CI machine without a lent GPU.
#include <gtest/gtest.h>

#include "distributed/mpi_communicator.h"
#include "framework/functional/softmax.h"
#include "framework/models/cnn.h"
#include "framework/parallel/data_parallel.h"
#ifdef OCTET_WITH_NCCL
#include "distributed/nccl_communicator.h"
#endif

namespace octet {
namespace {

TEST(Nccl, OneRankCollectivesAndADataParallelStep) {
#ifndef OCTET_WITH_NCCL
  GTEST_SKIP() << "this build has no NCCL backend";
#else
  if (!distributed::nccl_available()) GTEST_SKIP() << "no GPU visible";
  distributed::MpiCommunicator bootstrap;
  auto nccl = distributed::make_nccl_communicator(bootstrap, 0);
  EXPECT_EQ(nccl->backend(), "nccl");
  EXPECT_EQ(nccl->size(), 1);
  Tensor t = Tensor::from_vector<float>({1, -2, 3}, {3});
  for (auto op : {parallel::ReduceOp::kSum, parallel::ReduceOp::kMax, parallel::ReduceOp::kAvg})
    nccl->allreduce(t, op);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, -2, 3}));
  nccl->broadcast(t, 0);
  EXPECT_EQ(nccl->allgather(t).shape(), (Shape{1, 3}));
  EXPECT_EQ(nccl->reduce_scatter(t, parallel::ReduceOp::kSum).to_vector<float>(),
            t.to_vector<float>());

  Generator init(1), gen(2);
  models::Cnn model(models::CnnConfig{}, init);
  parallel::DataParallel dp(model, *nccl);
  const Tensor x = Tensor::randn({4, 1, 28, 28}, gen);
  const Tensor y = Tensor::from_vector<int64_t>({1, 2, 3, 4}, {4});
  dp.backward(cross_entropy(model.forward(x, gen), y));
  for (const Tensor& p : model.parameters()) EXPECT_TRUE(p.grad().defined());
#endif
}

}  // namespace
}  // namespace octet
