#include "distributed/nccl_communicator.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <string>

#include "distributed/collective_watchdog.h"
#include "distributed/mpi_communicator.h"
#include "ops/cuda/runtime.h"

namespace octet::distributed {
namespace {

void check_cuda(cudaError_t rc, const char* op) {
  if (rc != cudaSuccess) throw Error(op, std::string("CUDA error: ") + cudaGetErrorString(rc));
}

void check_nccl(ncclResult_t rc, const char* op) {
  if (rc != ncclSuccess) throw Error(op, std::string("NCCL error: ") + ncclGetErrorString(rc));
}

ncclDataType_t nccl_type(DType dtype, const char* op) {
  switch (dtype) {
    case DType::f64:
      return ncclFloat64;
    case DType::f32:
      return ncclFloat32;
    case DType::f16:
      return ncclFloat16;
    case DType::bf16:
      return ncclBfloat16;
    case DType::i64:
      return ncclInt64;
    case DType::i32:
      return ncclInt32;
    case DType::i8:
      return ncclInt8;
    case DType::u8:
      return ncclUint8;
    default:
      break;
  }
  throw Error(op, std::string("no NCCL datatype for ") + dtype_name(dtype));
}

ncclRedOp_t nccl_op(parallel::ReduceOp op) {
  switch (op) {
    case parallel::ReduceOp::kSum:
      return ncclSum;
    case parallel::ReduceOp::kMax:
      return ncclMax;
    case parallel::ReduceOp::kMin:
      return ncclMin;
    case parallel::ReduceOp::kAvg:
      return ncclAvg;
  }
  return ncclSum;
}

class NcclCommunicator : public parallel::Communicator {
 public:
  NcclCommunicator(MpiCommunicator& bootstrap, int local_rank)
      : rank_(bootstrap.rank()), size_(bootstrap.size()) {
    int devices = 0;
    check_cuda(cudaGetDeviceCount(&devices), "nccl");
    OCTET_CHECK(devices > 0, "nccl", "no GPU visible to rank ", rank_);
    device_ = local_rank % devices;
    check_cuda(cudaSetDevice(device_), "nccl");
    ncclUniqueId id;
    if (rank_ == 0) check_nccl(ncclGetUniqueId(&id), "nccl");
    Tensor wire = Tensor::empty({static_cast<int64_t>(sizeof(id))}, DType::u8);
    std::memcpy(wire.raw_data(), &id, sizeof(id));
    bootstrap.broadcast(wire, 0);
    std::memcpy(&id, wire.raw_data(), sizeof(id));
    check_nccl(ncclCommInitRank(&comm_, size_, id, rank_), "nccl");
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "nccl");
  }
  ~NcclCommunicator() override {
    if (staging_) cudaFree(staging_);
    if (stream_) cudaStreamDestroy(stream_);
    if (comm_) ncclCommDestroy(comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "nccl"; }
  // Host tensors are staged through one device buffer on the communicator's own stream; tensors
  // already on this rank's GPU are reduced in place on octet's stream for that device, so the
  // kernels that produced them are ordered before the collective without an event. Either way a
  // call returns when its result is ready. One staging buffer: calls must not overlap.
  bool supports_background_thread() const override { return true; }

  void allreduce(Tensor& t, parallel::ReduceOp op) override {
    parallel::check_collective_input(t, "allreduce");
    const auto watch = CollectiveWatchdog::instance().watch("allreduce", bytes(t), rank_, size_);
    const bool resident = on_this_gpu(t, "allreduce");
    void* d = resident ? t.raw_data() : stage_in(t, bytes(t), 1);
    check_nccl(
        ncclAllReduce(d, d, static_cast<size_t>(t.numel()), nccl_type(t.dtype(), "allreduce"),
                      nccl_op(op), comm_, stream_for(resident)),
        "allreduce");
    finish(resident, t, d);
  }

  void broadcast(Tensor& t, int root) override {
    parallel::check_collective_input(t, "broadcast");
    OCTET_CHECK(root >= 0 && root < size_, "broadcast", "root ", root, " outside ", size_);
    const auto watch = CollectiveWatchdog::instance().watch("broadcast", bytes(t), rank_, size_);
    const bool resident = on_this_gpu(t, "broadcast");
    void* d = resident ? t.raw_data() : stage_in(t, bytes(t), 1);
    check_nccl(ncclBroadcast(d, d, bytes(t), ncclUint8, root, comm_, stream_for(resident)),
               "broadcast");
    finish(resident, t, d);
  }

  Tensor allgather(const Tensor& t) override {
    parallel::check_collective_input(t, "allgather");
    const auto watch = CollectiveWatchdog::instance().watch("allgather", bytes(t), rank_, size_);
    Shape shape = t.shape();
    shape.insert(shape.begin(), size_);
    const bool resident = on_this_gpu(t, "allgather");
    Tensor out = Tensor::empty(shape, t.dtype(), t.device());
    char* d = resident ? static_cast<char*>(t.raw_data())
                       : static_cast<char*>(stage_in(t, bytes(t), size_ + 1));
    char* gathered = resident ? static_cast<char*>(out.raw_data()) : d + bytes(t);
    check_nccl(ncclAllGather(d, gathered, bytes(t), ncclUint8, comm_, stream_for(resident)),
               "allgather");
    finish(resident, out, gathered);
    return out;
  }

  Tensor reduce_scatter(const Tensor& t, parallel::ReduceOp op) override {
    parallel::check_collective_input(t, "reduce_scatter");
    OCTET_CHECK(t.dim() >= 1 && t.size(0) % size_ == 0, "reduce_scatter", "dim 0 of ", t.str(),
                " must divide by the world size ", size_);
    const auto watch =
        CollectiveWatchdog::instance().watch("reduce_scatter", bytes(t), rank_, size_);
    Shape shape = t.shape();
    shape[0] /= size_;
    const bool resident = on_this_gpu(t, "reduce_scatter");
    Tensor out = Tensor::empty(shape, t.dtype(), t.device());
    char* d =
        resident ? static_cast<char*>(t.raw_data()) : static_cast<char*>(stage_in(t, bytes(t), 2));
    char* part = resident ? static_cast<char*>(out.raw_data()) : d + bytes(t);
    check_nccl(ncclReduceScatter(d, part, static_cast<size_t>(out.numel()),
                                 nccl_type(t.dtype(), "reduce_scatter"), nccl_op(op), comm_,
                                 stream_for(resident)),
               "reduce_scatter");
    finish(resident, out, part);
    return out;
  }

  void barrier() override {
    Tensor t = Tensor::zeros({1});
    allreduce(t, parallel::ReduceOp::kSum);
  }

 private:
  static size_t bytes(const Tensor& t) {
    return static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
  }
  // Copies t into a device buffer of at least `factor` x its size; returns the buffer.
  void* stage_in(const Tensor& t, size_t n, int factor) {
    const size_t need = std::max<size_t>(n * static_cast<size_t>(factor), 16);
    if (need > staging_bytes_) {
      if (staging_) check_cuda(cudaFree(staging_), "nccl");
      check_cuda(cudaMalloc(&staging_, need), "nccl");
      staging_bytes_ = need;
    }
    check_cuda(cudaMemcpyAsync(staging_, t.raw_data(), n, cudaMemcpyHostToDevice, stream_), "nccl");
    return staging_;
  }
  // True for a tensor on this rank's GPU; a tensor on another GPU is a caller's mistake.
  bool on_this_gpu(const Tensor& t, const char* op) const {
    if (t.device().type != DeviceType::cuda) return false;
    OCTET_CHECK(t.device().index == device_, op, "tensor on ", t.device().str(),
                " but this rank's NCCL communicator uses cuda:", device_);
    return true;
  }
  cudaStream_t stream_for(bool resident) const {
    return resident ? static_cast<cudaStream_t>(cuda::stream(device_)) : stream_;
  }
  // Waits for the collective; a staged result is copied back to the host tensor first.
  void finish(bool resident, Tensor& t, const void* d) {
    if (!resident)
      check_cuda(cudaMemcpyAsync(t.raw_data(), d, bytes(t), cudaMemcpyDeviceToHost, stream_),
                 "nccl");
    check_cuda(cudaStreamSynchronize(stream_for(resident)), "nccl");
  }

  int rank_, size_, device_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  void* staging_ = nullptr;
  size_t staging_bytes_ = 0;
};

}  // namespace

bool nccl_available() {
  int devices = 0;
  return cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0;
}

std::shared_ptr<parallel::Communicator> make_nccl_communicator(MpiCommunicator& bootstrap,
                                                               int local_rank) {
  return std::make_shared<NcclCommunicator>(bootstrap, local_rank);
}

}  // namespace octet::distributed
