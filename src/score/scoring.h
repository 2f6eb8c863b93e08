// Scoring a data split with a model, sharded over the ranks: the one place where test images are
// put through the model, for the trainer's epoch lines and for vit-eval alike, so the two agree to
// the bit. Rank r of w takes the contiguous share [n r / w, n (r + 1) / w) in batches.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "data/dataset.h"
#include "model/vit.h"

namespace vit {

// First index of rank `rank`'s share of `n` items over `world` ranks (rank = world: n).
int64_t shard_begin(int64_t n, int rank, int world);

struct ShardScore {
  int64_t begin = 0;       // this rank's share is [begin, begin + predicted.size(0))
  torch::Tensor predicted;  // (share) int64 on the split's device: argmax of each image's logits
  torch::Tensor loss_sum;   // 0-dim float64 on the split's device: summed cross-entropy
};

// This rank's share of `split` (on the model's device) scored in batches of `batch_size`, in eval
// mode (restored afterwards) and without gradients. Losses are summed in float32 per batch and in
// float64 across batches. Not collective.
ShardScore score_shard(VisionTransformer& model, const Split& split, int64_t batch_size, int rank,
                       int world);

}  // namespace vit
