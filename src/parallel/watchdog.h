// A deadline for blocking MPI collectives. MPI_Allreduce and its kin wait forever for a rank that
// stopped answering (a host whose network link is gone, a process stopped by the system): the
// job would hang until the batch system's limit. The watchdog, a thread of its own, is armed
// around each collective. When one has waited a few seconds (min(5 s, timeout / 2)) it asks the
// other ranks directly (the `diagnose` callback, parallel/peer_probe.h) and, if some do not answer,
// logs a warning naming them; when one outlives dist.timeout_s it prints one error line naming
// this rank, the collective and the ranks that do not answer, and ends the process with status 69
// (launch/train.sh --max-restarts restarts on it), on which mpirun ends the whole job. When a machine is lost, mpirun cannot end the job that way
// (it waits for the lost machine's daemon for many minutes): if mpirun was given TCP keepalives
// (launch/train.sh does), the rank waits until they must have told mpirun, which then ends the
// job, or exits once that time is over. (The NCCL back end has its own deadline, in
// nccl_communicator.)
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace vit {

class Watchdog {
 public:
  struct Report {
    std::string silent;         // the ranks that do not answer, described; "" when all do
    bool machine_lost = false;  // one of them is unreachable (its machine or the network)
  };
  // Asks the other ranks, waiting at most the given seconds.
  using Diagnose = std::function<Report(double wait_s)>;

  // `timeout_s` <= 0: never fires (no thread). `diagnose` may be empty. For work a rank does alone
  // (the first training step), `local_cause` says why it may be stuck, and the error gives it
  // instead of naming other ranks.
  Watchdog(double timeout_s, int rank, Diagnose diagnose = {}, std::string local_cause = "");
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
  // Waits until `when` or until the arming `generation` ends; true if it is still armed then.
  bool still_armed_at(std::chrono::steady_clock::time_point when, uint64_t generation,
                      std::unique_lock<std::mutex>& lock);
  [[noreturn]] void fail(const char* what);

  double timeout_s_;
  int rank_;
  Diagnose diagnose_;
  std::string local_cause_;  // set: the work is this rank's own, not a collective
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  bool armed_ = false;
  bool idle_ = false;        // the thread waits for an arm() with no deadline: arm() must wake it
  uint64_t generation_ = 0;  // one per arm()
  const char* what_ = "";
  std::chrono::steady_clock::time_point armed_at_;
  std::thread thread_;
};

}  // namespace vit
