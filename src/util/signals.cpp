#include "util/signals.h"

#include <signal.h>

namespace vit {
namespace {

volatile sig_atomic_t g_received = 0;
struct sigaction g_previous_term, g_previous_usr1;

extern "C" void on_stop_signal(int signal_number) { g_received = signal_number; }

}  // namespace

StopSignals::StopSignals() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // interrupted reads and writes resume instead of failing
  sigaction(SIGTERM, &action, &g_previous_term);
  sigaction(SIGUSR1, &action, &g_previous_usr1);
}

StopSignals::~StopSignals() {
  sigaction(SIGTERM, &g_previous_term, nullptr);
  sigaction(SIGUSR1, &g_previous_usr1, nullptr);
}

int StopSignals::received() { return g_received; }

}  // namespace vit
