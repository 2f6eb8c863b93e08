// DistributedSampler: which training samples each rank sees in each epoch.
//
// One permutation of the whole training set per epoch, derived from (seed, epoch) alone, so it is
// identical on every rank without communication. Rank r takes positions r, r+N, r+2N, ... of it.
// Tail policy (as PyTorch's DistributedSampler with drop_last=False): when the set size is not a
// multiple of the world size, the permutation is extended by wrapping around to its start, so
// every rank gets ceil(size / world) samples and every sample is seen at least once per epoch.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace vit {

class DistributedSampler {
 public:
  DistributedSampler(int64_t dataset_size, int rank, int world_size, int64_t seed);

  // This rank's sample indices for the epoch, in training order, from global position `start`
  // of the epoch's permutation on (a resumed run: the positions before were trained on already,
  // possibly by a different number of ranks). Rank r takes start + r, start + r + N, ...
  torch::Tensor indices(int64_t epoch, int64_t start = 0) const;

  // Samples per rank and epoch (the same on every rank).
  int64_t per_rank() const { return per_rank_; }

  // Samples per rank left in an epoch from global position `start`.
  int64_t remaining_per_rank(int64_t start) const;

  // The global permutation of the epoch (exposed for tests).
  std::vector<int64_t> permutation(int64_t epoch) const;

 private:
  int64_t size_;
  int rank_;
  int world_size_;
  int64_t seed_;
  int64_t per_rank_;
};

}  // namespace vit
