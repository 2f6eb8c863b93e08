// parallel/watchdog: a collective that outlives its deadline ends the process with one error line
// (status 1); one that finishes in time, however often, never does.
#include "parallel/watchdog.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

#include "util/duration.h"
#include "util/signals.h"

namespace vit {
namespace {

using std::chrono::milliseconds;

// Status 69, not 1, when another rank or the network is at fault: launch/train.sh --max-restarts
// restarts on it; a rank stuck in its own work exits 1 (a restart would meet the same limit).
TEST(WatchdogDeathTest, AStuckCollectiveEndsTheProcessWithOneLine) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Watchdog dog(0.3, 3);
        const auto armed = dog.arm("the gradient all-reduce");
        std::this_thread::sleep_for(milliseconds(5000));  // "stuck"
        std::exit(0);
      },
      ::testing::ExitedWithCode(69),
      "^error: rank 3: the gradient all-reduce did not finish within dist.timeout_s = 0.3 s: "
      "another rank stopped answering");
}

TEST(WatchdogDeathTest, StuckLocalWorkEndsTheProcessNamingItsLikelyCause) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Watchdog dog(0.3, 0, {}, "a resource limit?");
        const auto armed = dog.arm("the first training step");
        std::this_thread::sleep_for(milliseconds(5000));  // a BLAS call that spins
        std::exit(0);
      },
      ::testing::ExitedWithCode(1),
      "^error: rank 0: the first training step did not finish within 0.3 s: "
      "a resource limit\\?\n$");
}

TEST(WatchdogDeathTest, TheErrorNamesTheRanksThatDoNotAnswer) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Watchdog dog(0.3, 0, [](double) {
          return Watchdog::Report{"rank 1 (pid 7 on b) is unreachable", true};
        });
        const auto armed = dog.arm("the gradient all-reduce");
        std::this_thread::sleep_for(milliseconds(5000));
        std::exit(0);
      },
      ::testing::ExitedWithCode(69),
      "^error: rank 0: the gradient all-reduce did not finish within dist.timeout_s = 0.3 s: "
      "rank 1 \\(pid 7 on b\\) is unreachable; ending the job");
  EXPECT_EXIT(
      {
        Watchdog dog(0.3, 2, [](double) { return Watchdog::Report{}; });
        const auto armed = dog.arm("a barrier");
        std::this_thread::sleep_for(milliseconds(5000));
        std::exit(0);
      },
      ::testing::ExitedWithCode(69), "^error: rank 2: a barrier did not .*every other rank answers");
}

// A lost machine under an mpirun with keepalives: the rank waits for mpirun to end the job (with a
// stop signal), instead of exiting into an abort that would wait for the lost machine's daemon.
TEST(WatchdogDeathTest, ALostMachineWaitsForMpirunsStopSignal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EXIT(
      {
        ::setenv("OMPI_MCA_oob_tcp_keepalive_time", "40", 1);
        ::setenv("OMPI_MCA_oob_tcp_keepalive_intvl", "2", 1);
        ::setenv("OMPI_MCA_oob_tcp_keepalive_probes", "5", 1);
        const StopSignals signals;
        Watchdog dog(0.2, 0, [](double) {
          return Watchdog::Report{"rank 1 (pid 7 on b) is unreachable", true};
        });
        const auto armed = dog.arm("the gradient all-reduce");
        std::this_thread::sleep_for(milliseconds(1000));
        ::kill(::getpid(), SIGTERM);  // what mpirun sends once its keepalives gave the machine up
        std::this_thread::sleep_for(milliseconds(60000));
        std::exit(0);
      },
      ::testing::ExitedWithCode(69),
      "rank 1 \\(pid 7 on b\\) is unreachable; ending the job \\(when mpirun gives the lost "
      "machine up, 55 s at most\\)");
  // Ended by the signal, not by the end of the 55 s.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

// The step's own watchdog (twice the timeout) must not end the process while the collective's
// waits for mpirun to give a lost machine up: that exit would leave mpirun waiting for the lost
// machine's daemon for many minutes. Only the collective's line is printed.
TEST(WatchdogDeathTest, AStepsWatchdogDoesNotCutALostMachinesWaitShort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ::setenv("OMPI_MCA_oob_tcp_keepalive_time", "40", 1);
        const StopSignals signals;
        Watchdog step(0.6, 0, {}, "computing alone");
        Watchdog collective(0.2, 0, [](double) {
          return Watchdog::Report{"rank 1 (pid 7 on b) is unreachable", true};
        });
        const auto step_armed = step.arm("a training step");
        const auto armed = collective.arm("the gradient all-reduce");
        std::this_thread::sleep_for(milliseconds(2000));  // the step's deadline passes
        ::kill(::getpid(), SIGTERM);  // mpirun, once its keepalives gave the machine up
        std::this_thread::sleep_for(milliseconds(60000));
        std::exit(0);
      },
      ::testing::ExitedWithCode(69),
      "^error: rank 0: the gradient all-reduce did not finish[^\n]*lost machine up, 45 s at "
      "most\\)\n$");
}

TEST(Watchdog, AsksWhoAnswersOnlyWhenACollectiveIsSlow) {
  std::atomic<int> asked{0};
  Watchdog dog(1.0, 0, [&](double) {
    ++asked;
    return Watchdog::Report{};  // everyone answers: no warning, and the collective ends in time
  });
  for (int i = 0; i < 20; ++i) {
    const auto armed = dog.arm("a sum over the ranks");
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(asked.load(), 0);
  {
    const auto armed = dog.arm("the gradient all-reduce");
    std::this_thread::sleep_for(milliseconds(800));  // past timeout / 2, within the timeout
  }
  EXPECT_EQ(asked.load(), 1);
}

TEST(Watchdog, CollectivesThatFinishInTimeNeverFire) {
  Watchdog dog(0.2, 0);
  const auto start = std::chrono::steady_clock::now();
  int rounds = 0;
  while (std::chrono::steady_clock::now() - start < milliseconds(600)) {
    const auto armed = dog.arm("a sum over the ranks");
    std::this_thread::sleep_for(milliseconds(rounds % 2 ? 150 : 0));  // within the deadline
    ++rounds;
  }
  // Disarmed for longer than the deadline: nothing happens either.
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_GT(rounds, 4);
}

// Issue 29: a timeout beyond the clock's nanosecond range (1e12 s) overflowed into a deadline in
// the past, and the job ended at once; it is clamped instead, so it never fires.
TEST(Watchdog, AHugeTimeoutDoesNotOverflowIntoAnEarlyDeadline) {
  for (const double timeout_s : {1e12, 1e300}) {
    Watchdog dog(timeout_s, 0);
    const auto armed = dog.arm("a barrier");
    std::this_thread::sleep_for(milliseconds(300));
  }
  EXPECT_EQ(seconds_to_duration(1e12), seconds_to_duration(kLongestDurationS));
  EXPECT_GT(seconds_to_duration(1e12), seconds_to_duration(1e6));
  EXPECT_EQ(seconds_to_duration(-1), std::chrono::steady_clock::duration::zero());
  EXPECT_EQ(seconds_to_duration(std::nan("")), std::chrono::steady_clock::duration::zero());
  EXPECT_EQ(seconds_to_duration(0.25), milliseconds(250));
}

TEST(Watchdog, ZeroTimeoutIsOff) {
  Watchdog dog(0, 0);
  const auto armed = dog.arm("a barrier");
  std::this_thread::sleep_for(milliseconds(50));
  SUCCEED();
}

}  // namespace
}  // namespace vit
