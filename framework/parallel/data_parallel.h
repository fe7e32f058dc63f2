#pragma once
// Data parallelism for a training loop: every rank holds the whole model and a shard of the global
// batch; after backward each parameter's gradient is the average over the ranks, so one optimizer
// step gives the same parameters on every rank.
//
// Gradients travel in buckets of about `bucket_bytes`, filled in reverse registration order (the
// order backward tends to finish them). A bucket is all-reduced as soon as its last gradient is
// final (autograd's LeafGradReadyScope tells), on a background thread, while backward goes on
// with the layers below; buckets start in index order on every rank, so the ranks' collectives
// always match. backward() returns once all buckets are back and averaged.
//
// In a world of one, backward() is loss.backward() and nothing else, so loops use DataParallel
// unconditionally. Like PyTorch's DDP, every rank must use the same parameters in its forward:
// a parameter that gets no gradient on one rank but does on another is reduced as zeros there.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "framework/nn/module.h"
#include "framework/parallel/communicator.h"

namespace octet::parallel {

struct DataParallelOptions {
  int64_t bucket_bytes = 25ll << 20;  // PyTorch DDP's default
  // Reduce buckets on a background thread during backward; off (or a communicator that cannot
  // take calls from another thread): all buckets are reduced after backward.
  bool overlap = true;
};

// What the last synchronised backward cost, for benchmarks and logs.
struct DataParallelTiming {
  double backward_seconds = 0;  // the whole call, reduction included
  double exposed_seconds = 0;   // waiting for reductions after backward's own work finished
  double reduce_seconds = 0;    // time spent inside the all-reduces (overlapped or not)
  int64_t buckets = 0;
  int64_t bytes = 0;
};

// A seed for what must differ between ranks (dropout masks, as the rows they fall on differ);
// rank 0 keeps `seed`, so one process draws what it always drew.
uint64_t per_rank_seed(uint64_t seed, int rank);

class DataParallel {
 public:
  // Broadcasts `model`'s parameters and buffers from rank 0, so all ranks start alike; call it
  // after prepare (QAT adds parameters) and before the optimizer's first step.
  DataParallel(nn::Module& model, Communicator& communicator, DataParallelOptions options = {});
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // Runs loss.backward(). With `sync` (the last micro-step of a gradient accumulation), every
  // parameter's .grad is the average over the ranks when it returns; without it gradients only
  // accumulate locally, at no communication cost.
  void backward(const Tensor& loss, bool sync = true);
  // backward() for the mean loss over `rows` of a global batch of `global_rows` (this rank's
  // share of it, or a micro-batch of that share): weighted by rows x ranks / global_rows, so that
  // summing micro-batches and averaging ranks gives the global batch's mean loss exactly, even
  // when shares differ by a row. Equal shares weigh 1 and cost nothing.
  void backward_share(const Tensor& loss, int64_t rows, int64_t global_rows, bool sync = true);

  Communicator& communicator() const { return comm_; }
  int64_t bucket_count() const { return static_cast<int64_t>(buckets_.size()); }
  const DataParallelTiming& last_timing() const { return timing_; }

 private:
  struct Slot {
    Tensor param;
    int64_t bucket = 0, offset = 0;
    bool ready = false, had_grad = false;
  };
  struct Bucket {
    Tensor flat;  // f32, the bucket's gradients back to back
    std::vector<size_t> slots;
    int64_t pending = 0;
  };

  void on_leaf_ready(const Tensor& leaf);
  Tensor slot_view(const Slot& slot) const;
  void mark_ready(Slot& slot);
  void launch_ready_buckets();
  void reduce_bucket(size_t index);
  void worker_loop();
  void wait_for_reductions();
  void scatter_back();

  Communicator& comm_;
  DataParallelOptions options_;
  bool threaded_ = false;
  Device device_;  // where the parameters, their gradients and the buckets live
  std::vector<Slot> slots_;
  std::unordered_map<const TensorImpl*, size_t> slot_of_;
  std::vector<Bucket> buckets_;
  size_t next_launch_ = 0;
  DataParallelTiming timing_;

  // The background reducer: a queue of bucket indices, done in order.
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<size_t> queue_;
  size_t reduced_ = 0;
  double reduce_seconds_ = 0;
  std::exception_ptr worker_error_;
  bool stop_ = false;
};

}  // namespace octet::parallel
