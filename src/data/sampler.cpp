#include "data/sampler.h"

#include <algorithm>
#include <numeric>

#include "util/error.h"

namespace vit {
namespace {

// splitmix64: a small, well-mixed generator whose output is fixed by its definition, so data
// order does not depend on the standard library's distribution implementations.
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform integer in [0, bound) without modulo bias (Lemire's multiply-and-reject).
uint64_t uniform_below(uint64_t& state, uint64_t bound) {
  for (;;) {
    const unsigned __int128 m = static_cast<unsigned __int128>(splitmix64(state)) * bound;
    const uint64_t low = static_cast<uint64_t>(m);
    if (low >= bound || low >= (-bound) % bound) return static_cast<uint64_t>(m >> 64);
  }
}

}  // namespace

DistributedSampler::DistributedSampler(int64_t dataset_size, int rank, int world_size,
                                       int64_t seed)
    : size_(dataset_size), rank_(rank), world_size_(world_size), seed_(seed) {
  VIT_CHECK(dataset_size > 0, "sampler: empty data set");
  VIT_CHECK(world_size > 0 && rank >= 0 && rank < world_size, "sampler: rank ", rank,
            " is outside the world of ", world_size, " ranks");
  per_rank_ = (size_ + world_size_ - 1) / world_size_;
}

std::vector<int64_t> DistributedSampler::permutation(int64_t epoch) const {
  std::vector<int64_t> perm(static_cast<size_t>(size_));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  uint64_t state = static_cast<uint64_t>(seed_) * 0x100000001b3ULL ^ static_cast<uint64_t>(epoch);
  splitmix64(state);
  for (int64_t i = size_ - 1; i > 0; --i) {  // Fisher-Yates
    const auto j = static_cast<int64_t>(uniform_below(state, static_cast<uint64_t>(i) + 1));
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
  }
  return perm;
}

int64_t DistributedSampler::remaining_per_rank(int64_t start) const {
  if (start <= 0) return per_rank_;
  return start >= size_ ? 0 : (size_ - start + world_size_ - 1) / world_size_;
}

torch::Tensor DistributedSampler::indices(int64_t epoch, int64_t start) const {
  const auto perm = permutation(epoch);
  const int64_t count = remaining_per_rank(start);
  const int64_t first = std::max<int64_t>(0, start);
  auto out = torch::empty({count}, torch::kLong);
  auto* p = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    p[i] = perm[static_cast<size_t>((first + rank_ + i * world_size_) % size_)];  // wraps at the tail
  }
  return out;
}

}  // namespace vit
