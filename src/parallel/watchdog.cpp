#include "parallel/watchdog.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>

#include "parallel/peer_lost.h"  // kPeerLostExitCode
#include "util/duration.h"
#include "util/signals.h"

namespace vit {
namespace {

using Clock = std::chrono::steady_clock;

Clock::duration seconds(double s) { return seconds_to_duration(s); }

double env_seconds(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr) return -1;
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  return end != text && *end == '\0' ? value : -1;
}

// How long mpirun, given TCP keepalives on its daemon links (mpirun passes its --mca settings to
// the ranks as OMPI_MCA_* variables), may take to notice a lost machine, with 5 s to spare; 0 when
// it was given none (it would then wait for many minutes: no point in waiting for it).
double mpirun_notice_s() {
  const double idle = env_seconds("OMPI_MCA_oob_tcp_keepalive_time");
  if (idle <= 0) return 0;
  const double interval = std::max(env_seconds("OMPI_MCA_oob_tcp_keepalive_intvl"), 0.0);
  const double probes = std::max(env_seconds("OMPI_MCA_oob_tcp_keepalive_probes"), 0.0);
  return std::min(idle + interval * probes + 5, 600.0);
}

}  // namespace

Watchdog::Watchdog(double timeout_s, int rank, Diagnose diagnose, std::string local_cause)
    : timeout_s_(timeout_s),
      rank_(rank),
      diagnose_(std::move(diagnose)),
      local_cause_(std::move(local_cause)) {
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
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    armed_ = true;
    ++generation_;
    what_ = what;
    armed_at_ = Clock::now();
    wake = idle_;
  }
  // A thread asleep until an earlier arm's deadline wakes then, finds the generation changed and
  // waits for this one's later deadline: waking it now would cost a context switch every step.
  if (wake) changed_.notify_one();
  return Armed(this);
}

void Watchdog::disarm() {
  std::lock_guard<std::mutex> lock(mutex_);
  armed_ = false;  // the thread, asleep until its next deadline, finds it disarmed then
}

bool Watchdog::still_armed_at(Clock::time_point when, uint64_t generation,
                              std::unique_lock<std::mutex>& lock) {
  while (!stopping_ && armed_ && generation_ == generation && Clock::now() < when) {
    changed_.wait_until(lock, when);
  }
  return !stopping_ && armed_ && generation_ == generation;
}

void Watchdog::watch() {
  // Early enough to be seen before a launcher gives up on a lost machine, late enough that a
  // slow step (a checkpoint on rank 0) does not set it off; the probe stays silent then anyway.
  const double warn_after_s = std::min(5.0, timeout_s_ / 2);
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (!armed_) {
      idle_ = true;
      changed_.wait(lock);
      idle_ = false;
      continue;
    }
    const uint64_t generation = generation_;
    const Clock::time_point armed_at = armed_at_;
    const char* what = what_;
    if (diagnose_ && still_armed_at(armed_at + seconds(warn_after_s), generation, lock)) {
      lock.unlock();  // the probe takes up to a second: the collective may end meanwhile
      const Report report = diagnose_(1.0);
      lock.lock();
      if (!report.silent.empty() && armed_ && generation_ == generation) {
        spdlog::warn(
            "rank {}: {} has waited {:g} s: {}; the job ends if it still waits after "
            "dist.timeout_s = {:g} s",
            rank_, what, warn_after_s, report.silent, timeout_s_);
      }
    }
    if (!still_armed_at(armed_at + seconds(timeout_s_), generation, lock)) continue;  // done
    lock.unlock();
    fail(what);
  }
}

void Watchdog::fail(const char* what) {
  // One watchdog ends the process: a second that reaches its deadline meanwhile (a step's, while
  // a collective's waits for mpirun to give a lost machine up) must not cut that wait short.
  static std::atomic<bool> ending{false};
  if (ending.exchange(true)) {
    while (true) std::this_thread::sleep_for(std::chrono::seconds(60));
  }
  if (!local_cause_.empty()) {
    std::fprintf(stderr, "error: rank %d: %s did not finish within %g s: %s\n", rank_, what,
                 timeout_s_, local_cause_.c_str());
    std::fflush(stderr);
    ::_exit(1);  // stuck in a computation that a stop signal cannot interrupt (not restarted)
  }
  const Report report = diagnose_ ? diagnose_(2.0) : Report{};
  const std::string silent =
      !report.silent.empty() ? report.silent
      : diagnose_            ? "every other rank answers, so one of them is stuck elsewhere"
                  : "another rank stopped answering, or the network between the machines is gone";
  // Exiting now would leave mpirun waiting for the lost machine: wait until its keepalives must
  // have told it (it then ends the job, with a stop signal to this rank), at most that long.
  const double wait_s = report.machine_lost ? mpirun_notice_s() : 0;
  const std::string when = wait_s > 0 ? " (when mpirun gives the lost machine up, " +
                                            std::to_string(static_cast<int>(wait_s)) + " s at most)"
                                      : "";
  std::fprintf(
      stderr,
      "error: rank %d: %s did not finish within dist.timeout_s = %g s: %s; ending the job%s\n",
      rank_, what, timeout_s_, silent.c_str(), when.c_str());
  std::fflush(stderr);
  const auto until = Clock::now() + seconds(wait_s);
  while (Clock::now() < until && StopSignals::received() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::_exit(kPeerLostExitCode);  // the rank is stuck inside MPI: no unwinding, no MPI_Finalize
}

}  // namespace vit
