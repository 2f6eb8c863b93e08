// dist/watchdog: a collective that outlives its deadline ends the process with one error line
// (status 1); one that finishes in time, however often, never does.
#include "dist/watchdog.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace vit {
namespace {

using std::chrono::milliseconds;

TEST(WatchdogDeathTest, AStuckCollectiveEndsTheProcessWithOneLine) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Watchdog dog(0.3, 3);
        const auto armed = dog.arm("the gradient all-reduce");
        std::this_thread::sleep_for(milliseconds(5000));  // "stuck"
        std::exit(0);
      },
      ::testing::ExitedWithCode(1),
      "^error: rank 3: the gradient all-reduce did not finish within dist.timeout_s = 0.3 s: "
      "another rank stopped answering");
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

TEST(Watchdog, ZeroTimeoutIsOff) {
  Watchdog dog(0, 0);
  const auto armed = dog.arm("a barrier");
  std::this_thread::sleep_for(milliseconds(50));
  SUCCEED();
}

}  // namespace
}  // namespace vit
