#include "distributed/collective_watchdog.h"

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace octet::distributed {
namespace {

constexpr double kDefaultTimeoutSeconds = 600;

double timeout_from_environment() {
  const char* text = std::getenv("OCTET_COLLECTIVE_TIMEOUT");
  if (text == nullptr || *text == '\0') return kDefaultTimeoutSeconds;
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(seconds >= 0)) {
    std::fprintf(stderr,
                 "octet: OCTET_COLLECTIVE_TIMEOUT='%s' is not a number of seconds >= 0; using "
                 "%.0f\n",
                 text, kDefaultTimeoutSeconds);
    return kDefaultTimeoutSeconds;
  }
  return seconds;
}

}  // namespace

CollectiveWatchdog& CollectiveWatchdog::instance() {
  static CollectiveWatchdog dog;
  return dog;
}

CollectiveWatchdog::CollectiveWatchdog() : timeout_seconds_(timeout_from_environment()) {}

CollectiveWatchdog::~CollectiveWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

CollectiveWatchdog::Watch CollectiveWatchdog::watch(const char* op, int64_t bytes, int rank,
                                                    int size) {
  if (timeout_seconds_ <= 0) return Watch(nullptr, 0);
  std::lock_guard<std::mutex> lock(mutex_);
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  const uint64_t id = next_id_++;
  in_flight_[id] = InFlight{op, bytes, rank, size, std::chrono::steady_clock::now()};
  return Watch(this, id);
}

CollectiveWatchdog::Watch::~Watch() {
  if (dog_ == nullptr) return;
  std::lock_guard<std::mutex> lock(dog_->mutex_);
  dog_->in_flight_.erase(id_);
}

void CollectiveWatchdog::run() {
  // Checks a few times per timeout (at least once a second), so a hang is reported within about
  // 1.25 timeouts; an idle check costs one lock.
  const auto period = std::chrono::duration<double>(std::min(1.0, timeout_seconds_ / 4));
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    wake_.wait_for(lock, period);
    const auto now = std::chrono::steady_clock::now();
    for (const auto& [id, c] : in_flight_) {
      if (std::chrono::duration<double>(now - c.start).count() > timeout_seconds_)
        fire(c.op, c.bytes, c.rank, c.size);
    }
  }
}

void CollectiveWatchdog::fire(const std::string& op, int64_t bytes, int rank, int size) const {
  std::fprintf(stderr,
               "octet: rank %d of %d: %s (%lld bytes) has not completed after %g s: a peer rank "
               "stopped calling collectives; aborting the job (OCTET_COLLECTIVE_TIMEOUT=%g)\n",
               rank, size, op.c_str(), static_cast<long long>(bytes), timeout_seconds_,
               timeout_seconds_);
  std::fflush(stderr);
  // This thread is not the one blocked in MPI. With MPI_THREAD_MULTIPLE (what octet asks for)
  // it may call MPI_Abort; with less, leaving the process is what mpirun notices.
  int level = MPI_THREAD_SINGLE;
  MPI_Query_thread(&level);
  if (level >= MPI_THREAD_MULTIPLE) MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

}  // namespace octet::distributed
