#include "util/signals.h"

#include <signal.h>

namespace vit {
namespace {

volatile sig_atomic_t g_received = 0;

extern "C" void on_stop_signal(int signal_number) { g_received = signal_number; }

}  // namespace

StopSignals::StopSignals() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // interrupted reads and writes resume instead of failing
  for (int signal_number : {SIGTERM, SIGUSR1, SIGINT, SIGHUP}) {
    sigaction(signal_number, &action, nullptr);
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
