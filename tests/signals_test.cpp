// util/signals: every stop signal (SIGTERM, SIGUSR1, SIGINT, SIGHUP) sent to the process only sets
// the flag, also after the StopSignals object is gone (a late second signal must not kill it); no
// thread that computes takes one (oneDNN 2.6's GEMM kernels move the stack pointer into the heap).
#include "util/signals.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>
#include <vector>

#include "model/linear.h"

namespace vit {
namespace {

// kill() sends to the process (as kill, mpirun and SLURM do); its waiting thread takes the signal
// soon after.
bool flag_becomes(int signal_number) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    if (StopSignals::received() == signal_number) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

bool blocks_stop_signals() {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  for (int signal_number : {SIGTERM, SIGUSR1, SIGINT, SIGHUP}) {
    if (sigismember(&mask, signal_number) != 1) return false;
  }
  return true;
}

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
    ASSERT_EQ(::kill(::getpid(), signal_number), 0);
    EXPECT_TRUE(flag_becomes(signal_number)) << signal_name(signal_number);
  }
}

// The stop checkpoint is written, the object goes out of scope, the program shuts down: a signal
// then (a second SIGTERM 50 ms after the first) still only sets the flag.
TEST(StopSignals, HandlersStayInstalledUntilTheProcessExits) {
  { const StopSignals signals; }
  for (int signal_number : {SIGINT, SIGTERM}) {
    ASSERT_EQ(::kill(::getpid(), signal_number), 0);
    EXPECT_TRUE(flag_becomes(signal_number)) << signal_name(signal_number);
  }
}

// Threads started afterwards (MPI's, OpenMP's, the watchdog's) inherit the blocked mask; a child
// of fork() has no waiting thread, so there they are unblocked and reach the handler.
TEST(StopSignals, BlockedInLaterThreadsAndUnblockedInAChild) {
  const StopSignals signals;
  EXPECT_TRUE(blocks_stop_signals());
  bool in_thread = false;
  std::thread([&] { in_thread = blocks_stop_signals(); }).join();
  EXPECT_TRUE(in_thread);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    ::_exit(sigismember(&mask, SIGTERM) == 0 && sigismember(&mask, SIGUSR1) == 0 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

// A storm of stop signals while the main thread multiplies matrices as a weight gradient does
// (A^T B, long inner dimension): with oneDNN 2.6 on an AVX-512 CPU, a handler run on this thread
// corrupted the heap within a few hundred products (glibc aborted: "corrupted size vs.
// prev_size"). The products must come out the same and the process must live.
TEST(StopSignals, AStormDuringMatrixProductsLeavesThemIntact) {
  const StopSignals signals;
  constexpr int64_t m = 64, n = 64, k = 2048;
  std::vector<float> a(k * m), b(k * n), expected(m * n), c(m * n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>((i * 7) % 13) / 13.0f - 0.5f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>((i * 5) % 11) / 11.0f - 0.5f;
  sgemm('T', 'N', m, n, k, a.data(), m, b.data(), n, 0.0f, expected.data(), n);
  std::atomic<bool> done{false};
  std::atomic<int64_t> sent{0};
  std::thread sender([&] {
    while (!done.load()) {
      ::kill(::getpid(), SIGUSR1);
      sent.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  });
  int mismatches = 0;
  for (int i = 0; i < 1000; ++i) {
    std::vector<float> scratch(64 + i % 37, 1.0f);  // the heap in use between the products
    sgemm('T', 'N', m, n, k, a.data(), m, b.data(), n, 0.0f, c.data(), n);
    if (c != expected) ++mismatches;
  }
  done.store(true);
  sender.join();
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(sent.load(), 100);
  EXPECT_TRUE(flag_becomes(SIGUSR1));
}

}  // namespace
}  // namespace vit
