#include "util/signals.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace vit {
namespace {

constexpr int kStopSignals[] = {SIGTERM, SIGUSR1, SIGINT, SIGHUP};

volatile sig_atomic_t g_received = 0;
// The process whose waiter runs (a child of fork() has none).
std::atomic<pid_t> g_waiter_pid{0};

extern "C" void on_stop_signal(int signal_number) { g_received = signal_number; }

sigset_t stop_set() {
  sigset_t set;
  sigemptyset(&set);
  for (int signal_number : kStopSignals) sigaddset(&set, signal_number);
  return set;
}

// A child of fork() (a helper program started by a library, a death test) has no waiter: there the
// stop signals are unblocked again and reach the handler (or its own StopSignals starts a waiter);
// exec() then restores their defaults.
extern "C" void unblock_in_child() {
  const sigset_t set = stop_set();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

// The one thread that takes the stop signals sent to the process; it lives until the process
// exits. It waits for them blocked, so no handler frame is pushed onto any stack: it only sets
// the flag.
void start_waiter() {
  std::thread([] {
    const sigset_t set = stop_set();
    while (true) {
      int signal_number = 0;
      if (sigwait(&set, &signal_number) == 0) g_received = signal_number;
    }
  }).detach();
}

}  // namespace

StopSignals::StopSignals() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // interrupted reads and writes resume instead of failing
  for (int signal_number : kStopSignals) sigaction(signal_number, &action, nullptr);
  // Blocked in this thread and so in every thread it starts from now on (they inherit its mask);
  // the waiter takes them. The handler stays for a thread started before (a signal sent to it).
  const sigset_t set = stop_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  pid_t seen = g_waiter_pid.load();
  if (seen != getpid() && g_waiter_pid.compare_exchange_strong(seen, getpid())) {
    if (seen == 0) pthread_atfork(nullptr, nullptr, unblock_in_child);  // children inherit it
    start_waiter();
  }
}

int StopSignals::received() { return g_received; }

void ignore_broken_pipes() {
  struct sigaction action {};
  action.sa_handler = SIG_IGN;
  sigemptyset(&action.sa_mask);
  sigaction(SIGPIPE, &action, nullptr);
}

std::string signal_name(int signal) {
  const char* name = signal == SIGTERM   ? "SIGTERM"
                     : signal == SIGUSR1 ? "SIGUSR1"
                     : signal == SIGINT  ? "SIGINT"
                     : signal == SIGHUP  ? "SIGHUP"
                                         : nullptr;
  const std::string number = "signal " + std::to_string(signal);
  return name == nullptr ? number : std::string(name) + " (" + number + ")";
}

}  // namespace vit
