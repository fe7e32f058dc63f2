#include "framework/parallel/communicator.h"

#include <mutex>

namespace octet::parallel {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return "sum";
    case ReduceOp::kMax:
      return "max";
    case ReduceOp::kMin:
      return "min";
    case ReduceOp::kAvg:
      return "avg";
  }
  return "?";
}

double Communicator::allreduce_scalar(double value, ReduceOp op) {
  Tensor t = Tensor::scalar(value, DType::f64);
  allreduce(t, op);
  return t.item();
}

void check_collective_input(const Tensor& t, const char* op) {
  OCTET_CHECK(t.defined(), op, "undefined tensor");
  OCTET_CHECK(t.is_contiguous(), op, "needs a contiguous tensor, got ", t.str());
}

void SingleProcessCommunicator::allreduce(Tensor& t, ReduceOp op) {
  check_collective_input(t, "allreduce");
  OCTET_CHECK(op != ReduceOp::kAvg || is_floating(t.dtype()), "allreduce",
              "avg needs a floating dtype, got ", t.str());
}

void SingleProcessCommunicator::broadcast(Tensor& t, int root) {
  check_collective_input(t, "broadcast");
  OCTET_CHECK(root == 0, "broadcast", "root ", root, " outside a world of 1");
}

Tensor SingleProcessCommunicator::allgather(const Tensor& t) {
  check_collective_input(t, "allgather");
  Shape shape = t.shape();
  shape.insert(shape.begin(), 1);
  return t.contiguous().clone().reshape(shape);
}

Tensor SingleProcessCommunicator::reduce_scatter(const Tensor& t, ReduceOp op) {
  check_collective_input(t, "reduce_scatter");
  OCTET_CHECK(t.dim() >= 1, "reduce_scatter", "needs at least one dim, got ", t.str());
  return t.clone();
}

namespace {
std::mutex g_world_mutex;
std::shared_ptr<Communicator>& world_slot() {
  static std::shared_ptr<Communicator> slot = std::make_shared<SingleProcessCommunicator>();
  return slot;
}
}  // namespace

Communicator& world() { return *world_ptr(); }

std::shared_ptr<Communicator> world_ptr() {
  std::lock_guard<std::mutex> lock(g_world_mutex);
  return world_slot();
}

void set_world(std::shared_ptr<Communicator> communicator) {
  OCTET_CHECK(communicator != nullptr, "set_world", "null communicator");
  std::lock_guard<std::mutex> lock(g_world_mutex);
  world_slot() = std::move(communicator);
}

}  // namespace octet::parallel
