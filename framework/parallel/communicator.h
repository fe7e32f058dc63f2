#pragma once
// Communicator: the collectives data parallelism needs, on tensors. Backends: MPI for host memory
// and NCCL for device memory live in distributed/ (they link those libraries); the single-process
// one lives here, so training loops and observers call the same collectives whether or not the
// job was launched with mpirun and never branch on "am I distributed".
//
// Every call is collective: all ranks make the same calls, in the same order, with tensors of the
// same shape and dtype. Tensors must be contiguous; results land in place where the call says so.
#include <memory>
#include <string>

#include "framework/tensor/tensor.h"

namespace octet::parallel {

enum class ReduceOp { kSum, kMax, kMin, kAvg };
const char* reduce_op_name(ReduceOp op);

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "single", "mpi", "nccl"

  // In place: every rank ends with the reduction over all ranks' `t`. kAvg divides the sum by
  // size() (floating dtypes only).
  virtual void allreduce(Tensor& t, ReduceOp op) = 0;
  // In place: every rank ends with `root`'s `t`.
  virtual void broadcast(Tensor& t, int root) = 0;
  // Returns [size(), ...t.shape()]: rank r's `t` at index r, on every rank.
  virtual Tensor allgather(const Tensor& t) = 0;
  // `t`'s dim 0 must divide by size(); returns this rank's chunk of the reduction over all ranks
  // (rank r gets rows [r * n / size, (r + 1) * n / size)).
  virtual Tensor reduce_scatter(const Tensor& t, ReduceOp op) = 0;
  virtual void barrier() = 0;

  // Whether collectives may be issued from one background thread while the thread that made the
  // communicator waits for them (data parallelism's overlap of gradient reduction with backward).
  virtual bool supports_background_thread() const { return true; }

  bool is_root() const { return rank() == 0; }

  // A scalar reduced across ranks (losses and counts for logs).
  double allreduce_scalar(double value, ReduceOp op);
};

// One process: every collective is the identity (allgather adds the leading dim of 1).
class SingleProcessCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "single"; }
  void allreduce(Tensor& t, ReduceOp op) override;
  void broadcast(Tensor& t, int root) override;
  Tensor allgather(const Tensor& t) override;
  Tensor reduce_scatter(const Tensor& t, ReduceOp op) override;
  void barrier() override {}
};

// The process's communicator: the one launch installed (distributed::init_world) or, by default,
// a SingleProcessCommunicator. Commands take it from here so that one binary runs alike under
// mpirun and without it.
Communicator& world();
std::shared_ptr<Communicator> world_ptr();
void set_world(std::shared_ptr<Communicator> communicator);

// Checks shared by the backends: contiguous, defined; names the op and the tensor.
void check_collective_input(const Tensor& t, const char* op);

}  // namespace octet::parallel
