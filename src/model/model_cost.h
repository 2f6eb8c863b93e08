// What one image costs the model in arithmetic, for the start-up table and the epoch line's
// GFLOP/s. Counted are the matrix products the model computes (a multiply-add is 2 FLOPs): the
// patch embedding, each block's qkv, scores, scores x values, output projection and two MLP
// layers (in the last block the class token's alone, besides every token's k and v), and the
// head on the class token. The backward pass is counted as twice the forward, as model-FLOPs
// utilisation is customarily reported. LayerNorm, softmax, GELU, the residual adds and the
// optimizer are left out: at width 8 they are a visible share of the time, so GFLOP/s reads low
// there (docs/measurements.md#flops).
#pragma once

#include <cstdint>

#include "config/train_config.h"
#include "model/vit.h"

namespace vit {

struct ModelCost {
  double forward_flops = 0;  // per image
  double train_flops = 0;    // per image: forward and backward (3x forward)
};

ModelCost model_cost(const ModelConfig& config, ImageShape image, int64_t num_classes);

}  // namespace vit
