// A deadline for blocking MPI collectives. MPI_Allreduce and its kin wait forever for a rank that
// stopped answering (a host whose network link is gone, a process stopped by the system): the
// job would hang until the batch system's limit. The watchdog, a thread of its own, is armed
// around each collective; when one outlives dist.timeout_s it prints one error line naming this
// rank, the collective and the timeout, and ends the process with status 1, on which mpirun ends
// the whole job. (The NCCL back end has its own deadline, in nccl_communicator.)
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace vit {

class Watchdog {
 public:
  // `timeout_s` <= 0: never fires (no thread).
  Watchdog(double timeout_s, int rank);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Armed for the life of the returned object (one collective at a time).
  class Armed {
   public:
    explicit Armed(Watchdog* dog) : dog_(dog) {}
    ~Armed() {
      if (dog_ != nullptr) dog_->disarm();
    }
    Armed(const Armed&) = delete;
    Armed& operator=(const Armed&) = delete;

   private:
    Watchdog* dog_;
  };
  // `what` must be a string literal (it is read by the watchdog's thread).
  Armed arm(const char* what);

 private:
  void disarm();
  void watch();

  double timeout_s_;
  int rank_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  bool armed_ = false;
  const char* what_ = "";
  std::chrono::steady_clock::time_point deadline_;
  std::thread thread_;
};

}  // namespace vit
