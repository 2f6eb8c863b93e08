// parallel/cpu_share: ranks share CPUs when they are on one host and their masks overlap.
#include "parallel/cpu_share.h"

#include <gtest/gtest.h>

namespace vit {
namespace {

TEST(CpuShare, OverlappingMasksOnOneHostShare) {
  const std::vector<RankCpus> unbound = {{"a", {0, 1, 2, 3}}, {"a", {0, 1, 2, 3}}};
  EXPECT_EQ(count_sharing(0, unbound), 2);
  EXPECT_EQ(count_sharing(1, unbound), 2);
}

TEST(CpuShare, MasksOfTheirOwnOrOtherHostsDoNot) {
  const std::vector<RankCpus> bound = {{"a", {0, 1}}, {"a", {2, 3}}, {"b", {0, 1}}, {"b", {0, 1}}};
  EXPECT_EQ(count_sharing(0, bound), 1);
  EXPECT_EQ(count_sharing(1, bound), 1);
  EXPECT_EQ(count_sharing(2, bound), 2);
}

TEST(CpuShare, PartialOverlapCounts) {
  const std::vector<RankCpus> ranks = {{"a", {0, 1, 2}}, {"a", {2, 3}}, {"a", {4}}};
  EXPECT_EQ(count_sharing(0, ranks), 2);
  EXPECT_EQ(count_sharing(2, ranks), 1);
}

}  // namespace
}  // namespace vit
