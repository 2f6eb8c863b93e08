// util/threads: the rank's threads follow the CPUs of its affinity mask (shared with the ranks
// whose masks overlap), an explicit count is kept, and the two mismatches a user can fix are
// told: more threads than CPUs, and fewer CPUs than the rank's share of the machine.
#include "util/threads.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <thread>

#include "util/error.h"

namespace vit {
namespace {

CpuShare share_of(int allowed, int sharing, int granted, int local_ranks) {
  CpuShare share;
  share.rank = 3;
  share.allowed = allowed;
  share.mask = allowed == 1 ? "5" : "0-" + std::to_string(allowed - 1);
  share.sharing = sharing;
  share.granted = granted;
  share.local_ranks = local_ranks;
  return share;
}

TEST(Threads, ZeroFollowsTheMaskDividedAmongTheRanksSharingIt) {
  EXPECT_EQ(plan_threads(0, share_of(8, 1, 16, 2)).intra_op, 8);   // bound to 8 cores of its own
  EXPECT_EQ(plan_threads(0, share_of(16, 2, 16, 2)).intra_op, 8);  // unbound, 2 on the machine
  EXPECT_EQ(plan_threads(0, share_of(16, 3, 16, 3)).intra_op, 5);
  EXPECT_EQ(plan_threads(0, share_of(2, 4, 2, 4)).intra_op, 1);    // never 0
  EXPECT_EQ(plan_threads(0, share_of(1, 1, 2, 1)).intra_op, 1);    // plain mpirun -n 1: one core
  EXPECT_EQ(plan_threads(6, share_of(16, 2, 16, 2)).intra_op, 6);  // asked for
}

TEST(Threads, FairSharesGiveNoAdvice) {
  EXPECT_EQ(plan_threads(0, share_of(8, 1, 16, 2)).advice, "");
  EXPECT_EQ(plan_threads(0, share_of(16, 2, 16, 2)).advice, "");
  EXPECT_EQ(plan_threads(0, share_of(4, 1, 4, 1)).advice, "");  // a batch system's cpuset of 4
  EXPECT_EQ(plan_threads(2, share_of(4, 1, 4, 1)).advice, "");  // fewer threads than CPUs: fine
}

TEST(Threads, ARankBoundToOneCoreOfManyIsTold) {
  const std::string advice = plan_threads(0, share_of(1, 1, 2, 1)).advice;
  EXPECT_NE(advice.find("rank 3: 1 CPU(s) of its own (affinity mask 5) of the 2 on its machine, "
                        "less than its share (2 for 1 rank(s))"),
            std::string::npos)
      << advice;
  EXPECT_NE(advice.find("--bind-to none"), std::string::npos) << advice;
  EXPECT_NE(advice.find("--map-by slot:PE=2"), std::string::npos) << advice;
  EXPECT_NE(advice.find("launch/train.sh"), std::string::npos) << advice;
}

TEST(Threads, MoreThreadsThanCpusAreTold) {
  const std::string advice = plan_threads(4, share_of(2, 2, 2, 2)).advice;
  EXPECT_NE(advice.find("rank 3: 4 threads (train.threads) on 1 CPU(s) of its own (affinity mask "
                        "0-1, shared by 2 ranks): the threads take turns"),
            std::string::npos)
      << advice;
  EXPECT_NE(advice.find("train.threads 0"), std::string::npos) << advice;
}

TEST(Threads, CpuListsRoundTrip) {
  EXPECT_EQ(parse_cpu_list("0-3,8,10-11\n"), (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_EQ(parse_cpu_list("5"), (std::vector<int>{5}));
  EXPECT_EQ(parse_cpu_list(""), (std::vector<int>{}));
  EXPECT_EQ(format_cpu_list({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
  EXPECT_EQ(format_cpu_list({7}), "7");
  EXPECT_EQ(format_cpu_list({}), "");
  for (const char* bad : {"a", "3-1", "1-", "-2", "1x", "0-99999"}) {
    EXPECT_THROW(parse_cpu_list(bad), Error) << bad;
  }
}

// The real mask: this thread pinned to one CPU sees exactly it, and so does the share.
TEST(Threads, AllowedCpusIsTheAffinityMask) {
  cpu_set_t saved;
  ASSERT_EQ(sched_getaffinity(0, sizeof saved, &saved), 0);
  const std::vector<int> all = allowed_cpus();
  ASSERT_FALSE(all.empty());
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(all.back(), &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  EXPECT_EQ(allowed_cpus(), std::vector<int>{all.back()});
  const CpuShare share = solo_cpu_share();
  EXPECT_EQ(share.allowed, 1);
  EXPECT_EQ(share.mask, std::to_string(all.back()));
  EXPECT_GE(share.granted, 1);
  EXPECT_EQ(plan_threads(0, share).intra_op, 1);
  ASSERT_EQ(sched_setaffinity(0, sizeof saved, &saved), 0);
  EXPECT_EQ(allowed_cpus(), all);
}

}  // namespace
}  // namespace vit
