#pragma once
// The MPI backend of parallel::Communicator: collectives on host tensors over Open MPI, in
// MPI_COMM_WORLD (or a duplicate of a given communicator, so octet's traffic never mixes with an
// application's own). Initialises MPI on first use with MPI_THREAD_MULTIPLE when the library
// offers it, so data parallelism may reduce gradients from a background thread; with less it
// says so (supports_background_thread() false) and reduction happens after backward.
#include <mpi.h>

#include <memory>

#include "framework/parallel/communicator.h"

namespace octet::distributed {

class MpiCommunicator : public parallel::Communicator {
 public:
  // Initialises MPI if nobody has; `comm` is duplicated (MPI_COMM_WORLD by default).
  explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD);
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }
  void allreduce(Tensor& t, parallel::ReduceOp op) override;
  void broadcast(Tensor& t, int root) override;
  Tensor allgather(const Tensor& t) override;
  Tensor reduce_scatter(const Tensor& t, parallel::ReduceOp op) override;
  void barrier() override;
  bool supports_background_thread() const override { return thread_multiple_; }

  MPI_Comm comm() const { return comm_; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  bool thread_multiple_ = false;
};

// MPI's datatype for an octet dtype; throws naming `op` for dtypes MPI has no reduction for.
MPI_Datatype mpi_datatype(DType dtype, const char* op);

// Initialises MPI (thread level MULTIPLE requested) unless it already is; returns the level
// provided. Registers MPI_Finalize at exit when octet initialised it.
int ensure_mpi_initialized();

}  // namespace octet::distributed
