#include "dist/watchdog.h"

#include <unistd.h>

#include <cstdio>

namespace vit {

Watchdog::Watchdog(double timeout_s, int rank) : timeout_s_(timeout_s), rank_(rank) {
  if (timeout_s_ > 0) thread_ = std::thread([this] { watch(); });
}

Watchdog::~Watchdog() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_one();
  thread_.join();
}

Watchdog::Armed Watchdog::arm(const char* what) {
  if (!thread_.joinable()) return Armed(nullptr);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    armed_ = true;
    what_ = what;
    deadline_ = std::chrono::steady_clock::now() +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(timeout_s_));
  }
  changed_.notify_one();
  return Armed(this);
}

void Watchdog::disarm() {
  std::lock_guard<std::mutex> lock(mutex_);
  armed_ = false;  // the thread, asleep until the deadline, finds it disarmed then: no wake-up
}

void Watchdog::watch() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (!armed_) {
      changed_.wait(lock);
      continue;
    }
    const auto deadline = deadline_;
    changed_.wait_until(lock, deadline);
    if (stopping_ || !armed_ || deadline_ != deadline) continue;  // done, or re-armed since
    if (std::chrono::steady_clock::now() < deadline) continue;     // woken early
    std::fprintf(stderr,
                 "error: rank %d: %s did not finish within dist.timeout_s = %g s: another rank "
                 "stopped answering, or the network between the machines is gone; ending the "
                 "job\n",
                 rank_, what_, timeout_s_);
    std::fflush(stderr);
    ::_exit(1);  // the rank is stuck inside MPI: no unwinding, no MPI_Finalize
  }
}

}  // namespace vit
