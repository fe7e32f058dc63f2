#pragma once
// The last line of "never a silent hang". A rank that throws aborts the job (launch.h) and a rank
// that dies is noticed by mpirun, but a rank that stops calling collectives without dying (stuck
// in I/O, in a loop, on another code path) leaves its peers waiting forever inside MPI. So every
// blocking collective of the MPI and NCCL backends runs under a CollectiveWatchdog::Watch, and a
// background thread aborts the job when one has waited longer than the timeout, printing
//   octet: rank 0 of 2: allreduce (16 bytes) has not completed after 300 s: a peer rank stopped
//   calling collectives; aborting the job (OCTET_COLLECTIVE_TIMEOUT=300)
// The timeout is OCTET_COLLECTIVE_TIMEOUT in seconds (default 600: longer than any solo phase of
// rank 0, such as an export, that its peers may wait through); 0 turns the watchdog off.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace octet::distributed {

class CollectiveWatchdog {
 public:
  // The process's watchdog; its thread starts with the first watched collective.
  static CollectiveWatchdog& instance();
  ~CollectiveWatchdog();

  double timeout_seconds() const { return timeout_seconds_; }

  // Marks one collective as in flight from construction to destruction.
  class Watch {
   public:
    Watch(CollectiveWatchdog* dog, uint64_t id) : dog_(dog), id_(id) {}
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    ~Watch();

   private:
    CollectiveWatchdog* dog_;
    uint64_t id_;
  };
  // op: "allreduce", ...; bytes: the payload; rank/size: for the message.
  Watch watch(const char* op, int64_t bytes, int rank, int size);

 private:
  CollectiveWatchdog();
  void run();
  [[noreturn]] void fire(const std::string& op, int64_t bytes, int rank, int size) const;

  struct InFlight {
    std::string op;
    int64_t bytes;
    int rank, size;
    std::chrono::steady_clock::time_point start;
  };
  double timeout_seconds_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<uint64_t, InFlight> in_flight_;
  uint64_t next_id_ = 1;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace octet::distributed
