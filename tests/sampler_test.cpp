// DistributedSampler: a permutation per epoch, fixed by (seed, epoch); strided shards; the tail.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <tuple>
#include <vector>

#include "data/sampler.h"
#include "util/error.h"

namespace vit {
namespace {

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  return {t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel()};
}

TEST(Sampler, OneRankSeesEverySampleOncePerEpoch) {
  DistributedSampler sampler(1000, 0, 1, 42);
  auto indices = to_vector(sampler.indices(0));
  ASSERT_EQ(indices.size(), 1000u);
  std::sort(indices.begin(), indices.end());
  for (int64_t i = 0; i < 1000; ++i) EXPECT_EQ(indices[static_cast<size_t>(i)], i);
}

TEST(Sampler, SameSeedSameOrderOtherEpochOtherOrder) {
  DistributedSampler a(500, 0, 1, 7), b(500, 0, 1, 7), c(500, 0, 1, 8);
  EXPECT_EQ(to_vector(a.indices(3)), to_vector(b.indices(3)));
  EXPECT_NE(to_vector(a.indices(3)), to_vector(a.indices(4)));
  EXPECT_NE(to_vector(a.indices(3)), to_vector(c.indices(3)));
  // Not the identity either.
  auto identity = std::vector<int64_t>(500);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_NE(to_vector(a.indices(0)), identity);
}

TEST(Sampler, StridedShardsCoverTheSetExactlyOnceWhenDivisible) {
  const int world = 4;
  std::vector<int64_t> all;
  const auto perm = DistributedSampler(1000, 0, world, 5).permutation(2);
  for (int rank = 0; rank < world; ++rank) {
    DistributedSampler sampler(1000, rank, world, 5);
    const auto shard = to_vector(sampler.indices(2));
    ASSERT_EQ(shard.size(), 250u);
    for (size_t i = 0; i < shard.size(); ++i) EXPECT_EQ(shard[i], perm[rank + i * world]);
    all.insert(all.end(), shard.begin(), shard.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a sample seen twice";
  EXPECT_EQ(all.size(), 1000u);
}

TEST(Sampler, TailWrapsAroundToTheStartOfThePermutation) {
  // 10 samples on 3 ranks: 4 per rank, the 2 missing positions are the permutation's first two.
  const int world = 3;
  const auto perm = DistributedSampler(10, 0, world, 1).permutation(0);
  std::multiset<int64_t> seen;
  for (int rank = 0; rank < world; ++rank) {
    DistributedSampler sampler(10, rank, world, 1);
    EXPECT_EQ(sampler.per_rank(), 4);
    for (int64_t i : to_vector(sampler.indices(0))) seen.insert(i);
  }
  EXPECT_EQ(seen.size(), 12u);
  for (int64_t i = 0; i < 10; ++i) EXPECT_GE(seen.count(i), 1u) << "sample " << i << " unseen";
  EXPECT_EQ(seen.count(perm[0]), 2u);
  EXPECT_EQ(seen.count(perm[1]), 2u);
}

// A run resumed mid-epoch on another number of ranks: the positions the old ranks trained on and
// those the new ranks take from there cover the epoch's samples exactly once, checked by the
// samples themselves, 2 -> 1, 1 -> 2 and 2 -> 3 ranks.
TEST(Sampler, ResumeOnAnotherWorldSizeTrainsEverySampleOnce) {
  constexpr int64_t kSize = 2048, kEpoch = 1;
  for (const auto& [before, after, position] :
       std::vector<std::tuple<int, int, int64_t>>{{2, 1, 640}, {1, 2, 1000}, {2, 3, 1040}}) {
    std::multiset<int64_t> seen;
    for (int rank = 0; rank < before; ++rank) {
      const auto shard = to_vector(DistributedSampler(kSize, rank, before, 7).indices(kEpoch));
      seen.insert(shard.begin(), shard.begin() + position / before);  // trained before the stop
    }
    for (int rank = 0; rank < after; ++rank) {
      const DistributedSampler sampler(kSize, rank, after, 7);
      const auto rest = to_vector(sampler.indices(kEpoch, position));
      EXPECT_EQ(static_cast<int64_t>(rest.size()), sampler.remaining_per_rank(position));
      seen.insert(rest.begin(), rest.end());
    }
    EXPECT_EQ(static_cast<int64_t>(seen.size()), kSize) << before << " -> " << after;
    for (int64_t i = 0; i < kSize; ++i) {
      ASSERT_EQ(seen.count(i), 1u) << "sample " << i << ", " << before << " -> " << after;
    }
  }
}

TEST(Sampler, RejectsBadRanks) {
  EXPECT_THROW(DistributedSampler(10, 2, 2, 0), Error);
  EXPECT_THROW(DistributedSampler(0, 0, 1, 0), Error);
}

}  // namespace
}  // namespace vit
