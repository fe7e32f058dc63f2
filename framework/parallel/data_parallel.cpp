#include "framework/parallel/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "framework/functional/arithmetic.h"
#include "framework/tensor/autograd.h"
#include "ops/device_copy.h"

namespace octet::parallel {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

uint64_t per_rank_seed(uint64_t seed, int rank) {
  return seed + 7919 * static_cast<uint64_t>(rank);
}

DataParallel::DataParallel(nn::Module& model, Communicator& communicator,
                           DataParallelOptions options)
    : comm_(communicator), options_(options) {
  OCTET_CHECK(options_.bucket_bytes > 0, "data_parallel", "bucket_bytes must be positive, got ",
              options_.bucket_bytes);
  if (comm_.size() == 1) return;
  // Buckets live where the parameters do (a GPU model's gradients are reduced on the GPU, by a
  // backend that takes device tensors: NCCL), so all parameters must share one device.
  const nn::NamedTensors all = model.named_parameters();
  if (!all.empty()) device_ = all.front().second.device();
  for (const auto& [name, t] : all)
    OCTET_CHECK(t.device() == device_, "data_parallel", "parameter '", name, "' is on ",
                t.device().str(), " but '", all.front().first, "' on ", device_.str(),
                "; move the whole model with Module::to first");
  for (auto& [name, t] : model.named_parameters()) comm_.broadcast(t, 0);
  for (auto& [name, t] : model.named_buffers()) comm_.broadcast(t, 0);

  // Reverse registration order: the last layers' gradients are final first.
  const nn::NamedTensors params = model.named_parameters();
  int64_t bucket_floats = 0;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    const Tensor& p = it->second;
    if (!p.requires_grad()) continue;
    OCTET_CHECK(p.dtype() == DType::f32, "data_parallel", "parameter '", it->first, "' is ",
                p.str(), "; gradient buckets hold f32");
    if (buckets_.empty() || bucket_floats * 4 >= options_.bucket_bytes) {
      if (!buckets_.empty())
        buckets_.back().flat = Tensor::zeros({bucket_floats}, DType::f32, device_);
      buckets_.emplace_back();
      bucket_floats = 0;
    }
    Slot s;
    s.param = p;
    s.bucket = static_cast<int64_t>(buckets_.size() - 1);
    s.offset = bucket_floats;
    bucket_floats += p.numel();
    buckets_.back().slots.push_back(slots_.size());
    slot_of_[p.impl()] = slots_.size();
    slots_.push_back(s);
  }
  if (!buckets_.empty()) buckets_.back().flat = Tensor::zeros({bucket_floats}, DType::f32, device_);
  threaded_ = options_.overlap && comm_.supports_background_thread();
  if (threaded_) worker_ = std::thread([this] { worker_loop(); });
}

DataParallel::~DataParallel() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  worker_.join();
}

void DataParallel::backward(const Tensor& loss, bool sync) {
  if (!sync || comm_.size() == 1) {
    loss.backward();
    return;
  }
  const double t0 = now_seconds();
  for (Bucket& b : buckets_) b.pending = static_cast<int64_t>(b.slots.size());
  for (Slot& s : slots_) s.ready = s.had_grad = false;
  next_launch_ = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    reduced_ = 0;
    reduce_seconds_ = 0;
  }
  {
    LeafGradReadyScope scope([this](const Tensor& leaf) { on_leaf_ready(leaf); });
    loss.backward();
  }
  // Parameters this pass did not reach still take part (zeros), so every rank's buckets match.
  for (Slot& s : slots_)
    if (!s.ready) mark_ready(s);
  launch_ready_buckets();
  const double t1 = now_seconds();
  wait_for_reductions();
  scatter_back();
  const double t2 = now_seconds();
  timing_.backward_seconds = t2 - t0;
  timing_.exposed_seconds = t2 - t1;
  timing_.reduce_seconds = reduce_seconds_;
  timing_.buckets = bucket_count();
  timing_.bytes = 0;
  for (const Bucket& b : buckets_) timing_.bytes += b.flat.numel() * 4;
}

void DataParallel::backward_share(const Tensor& loss, int64_t rows, int64_t global_rows,
                                  bool sync) {
  const double weight = static_cast<double>(rows * comm_.size()) / static_cast<double>(global_rows);
  backward(weight == 1.0 ? loss : mul(loss, weight), sync);
}

void DataParallel::on_leaf_ready(const Tensor& leaf) {
  const auto found = slot_of_.find(leaf.impl());
  if (found == slot_of_.end()) return;  // an input that wanted a gradient, not a parameter
  Slot& s = slots_[found->second];
  if (s.ready) return;
  mark_ready(s);
  launch_ready_buckets();
}

// The slot's stretch of its bucket, shaped like the parameter (a view: no copy).
Tensor DataParallel::slot_view(const Slot& s) const {
  const Tensor& flat = buckets_[static_cast<size_t>(s.bucket)].flat;
  return make_view(flat, s.param.shape(), contiguous_strides(s.param.shape()), s.offset);
}

void DataParallel::mark_ready(Slot& s) {
  Bucket& b = buckets_[static_cast<size_t>(s.bucket)];
  const Tensor g = s.param.grad();
  s.had_grad = g.defined();
  if (device_.type != DeviceType::cpu) {
    // Device kernels on the device's one stream, so the all-reduce queued after them sees them.
    if (s.had_grad)
      copy_any(g.view(), slot_view(s).view());
    else
      fill_any(slot_view(s).view(), 0.0);
    s.ready = true;
    --b.pending;
    return;
  }
  float* dst = b.flat.data<float>() + s.offset;
  if (s.had_grad) {
    const Tensor gc = g.contiguous();
    std::memcpy(dst, gc.data<float>(), static_cast<size_t>(gc.numel()) * sizeof(float));
  } else {
    std::fill_n(dst, s.param.numel(), 0.0f);
  }
  s.ready = true;
  --b.pending;
}

// Buckets start strictly in index order, so all ranks issue the same collectives in the same
// order even if their gradients finish in different orders.
void DataParallel::launch_ready_buckets() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
    const size_t index = next_launch_++;
    if (!threaded_) continue;  // reduced after backward, in wait_for_reductions
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(index);
    }
    work_cv_.notify_one();
  }
}

void DataParallel::reduce_bucket(size_t index) {
  const double t0 = now_seconds();
  comm_.allreduce(buckets_[index].flat, ReduceOp::kSum);
  const double dt = now_seconds() - t0;
  std::lock_guard<std::mutex> lock(mutex_);
  reduce_seconds_ += dt;
}

void DataParallel::worker_loop() {
  for (;;) {
    size_t index;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ with nothing left
      index = queue_.front();
      queue_.pop_front();
    }
    try {
      reduce_bucket(index);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!worker_error_) worker_error_ = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++reduced_;
    }
    done_cv_.notify_all();
  }
}

void DataParallel::wait_for_reductions() {
  if (!threaded_) {
    for (size_t i = 0; i < buckets_.size(); ++i) reduce_bucket(i);
    return;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  done_cv_.wait(lock, [this] { return reduced_ == buckets_.size(); });
  if (worker_error_) {
    std::exception_ptr e = worker_error_;
    worker_error_ = nullptr;
    std::rethrow_exception(e);
  }
}

// Averages and hands each parameter its reduced gradient (a fresh tensor: gradients are never
// written in place, see autograd's accumulate).
void DataParallel::scatter_back() {
  const float inv = 1.0f / static_cast<float>(comm_.size());
  for (Slot& s : slots_) {
    if (!s.had_grad) continue;
    if (device_.type != DeviceType::cpu) {
      NoGradGuard no_grad;
      s.param.set_grad(mul(slot_view(s), static_cast<double>(inv)));
      continue;
    }
    const float* src = buckets_[static_cast<size_t>(s.bucket)].flat.data<float>() + s.offset;
    Tensor g = Tensor::empty(s.param.shape());
    float* dst = g.data<float>();
    for (int64_t i = 0; i < g.numel(); ++i) dst[i] = src[i] * inv;
    s.param.set_grad(g);
  }
}

}  // namespace octet::parallel
