// main() for GoogleTest programs that run under mpiexec (or alone, a world of one): MPI around the
// tests, output from rank 0 only, and a failure on any rank fails the program on every rank. When
// every test skipped on every rank (a GPU test without a GPU) and none failed, the exit status is
// kSkipped, which ctest shows as Skipped (SKIP_RETURN_CODE), not Passed.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <csignal>
#include <cstdlib>
#include <cstdint>
#include <dlfcn.h>
#include <ucontext.h>
#include <unistd.h>
#include <string>

namespace {

// Prints each failed assertion of this rank, prefixed with the rank and the test's name.
class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestStart(const ::testing::TestInfo& test) override {
    test_ = std::string(test.test_suite_name()) + "." + test.name();
  }
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "rank %d: %s: %s:%d: failure\n%s\n", rank_, test_.c_str(),
                 result.file_name() != nullptr ? result.file_name() : "?", result.line_number(),
                 result.message());
  }

 private:
  int rank_;
  std::string test_;  // the running test (asking gtest from here would take a lock it holds)
};

// VIT_TEST_SEGV_TRACE=1: on SIGSEGV, the shared objects and offsets of the code addresses found in
// the top of the stack (a crash through a null function pointer leaves no unwindable frame).
void segv_trace(int, siginfo_t* info, void* context) {
  const auto* uc = static_cast<const ucontext_t*>(context);
  const auto* sp = reinterpret_cast<void* const*>(uc->uc_mcontext.gregs[REG_RSP]);
  std::fprintf(stderr, "SEGV at %p, pc %p\n", info->si_addr,
               reinterpret_cast<void*>(uc->uc_mcontext.gregs[REG_RIP]));
  for (int i = 0; i < 256; ++i) {
    Dl_info where{};
    if (dladdr(sp[i], &where) != 0 && where.dli_fname != nullptr) {
      const auto offset = reinterpret_cast<std::uintptr_t>(sp[i]) -
                          reinterpret_cast<std::uintptr_t>(where.dli_fbase);
      std::fprintf(stderr, "  sp[%d] %s+0x%lx %s\n", i, where.dli_fname,
                   static_cast<unsigned long>(offset), where.dli_sname ? where.dli_sname : "");
    }
  }
  _exit(139);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  if (const char* trace = std::getenv("VIT_TEST_SEGV_TRACE"); trace && std::string(trace) == "1") {
    struct sigaction action{};
    action.sa_sigaction = segv_trace;
    action.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &action, nullptr);
  }
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    // Other ranks report failures only (with their rank), not the whole run.
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailurePrinter(rank));
  }
  constexpr int kSkipped = 77;
  const int failed = RUN_ALL_TESTS();
  const auto* unit = ::testing::UnitTest::GetInstance();
  const int ran = unit->successful_test_count();  // skipped tests are not successful
  int any_failed = 0, any_ran = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(&ran, &any_ran, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (any_failed && !failed) std::fprintf(stderr, "rank %d: passed, but another rank failed\n", rank);
  MPI_Finalize();
  if (any_failed) return 1;
  return any_ran > 0 ? 0 : kSkipped;
}
