// util/signals: every stop signal (SIGTERM, SIGUSR1, SIGINT, SIGHUP) only sets the flag, and the
// handlers stay installed until the process exits (a late second signal must not kill it).
#include "util/signals.h"

#include <gtest/gtest.h>

#include <csignal>

namespace vit {
namespace {

TEST(StopSignals, NamesForTheLog) {
  EXPECT_EQ(signal_name(SIGTERM), "SIGTERM (signal " + std::to_string(SIGTERM) + ")");
  EXPECT_EQ(signal_name(SIGUSR1), "SIGUSR1 (signal " + std::to_string(SIGUSR1) + ")");
  EXPECT_EQ(signal_name(SIGINT), "SIGINT (signal 2)");
  EXPECT_EQ(signal_name(SIGHUP), "SIGHUP (signal 1)");
  EXPECT_EQ(signal_name(9), "signal 9");
}

TEST(StopSignals, EveryStopSignalOnlySetsTheFlag) {
  const StopSignals signals;
  for (int signal_number : {SIGTERM, SIGUSR1, SIGINT, SIGHUP}) {
    ASSERT_EQ(std::raise(signal_number), 0);
    EXPECT_EQ(StopSignals::received(), signal_number);
  }
}

// The stop checkpoint is written, the object goes out of scope, the program shuts down: a signal
// then (a second SIGTERM 50 ms after the first) still only sets the flag.
TEST(StopSignals, HandlersStayInstalledUntilTheProcessExits) {
  { const StopSignals signals; }
  for (int signal_number : {SIGINT, SIGTERM}) {
    ASSERT_EQ(std::raise(signal_number), 0);
    EXPECT_EQ(StopSignals::received(), signal_number);
  }
}

}  // namespace
}  // namespace vit
