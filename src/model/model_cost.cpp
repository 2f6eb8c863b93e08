#include "model/model_cost.h"

namespace vit {

ModelCost model_cost(const ModelConfig& config, ImageShape image, int64_t num_classes) {
  const double n = static_cast<double>(config.n_patches);
  const double patches = n * n;
  const double tokens = patches + 1;  // with the class token
  const double d = static_cast<double>(config.hidden_d);
  const double mlp = static_cast<double>(config.mlp_ratio) * d;
  // A patch as vit.cpp cuts it: the image padded to a multiple of n_patches on each side.
  const int64_t side_h = (image.height + config.n_patches - 1) / config.n_patches;
  const int64_t side_w = (image.width + config.n_patches - 1) / config.n_patches;
  const double patch_dim = static_cast<double>(image.channels * side_h * side_w);

  const double embed = patches * patch_dim * d;
  const double block = tokens * d * 3 * d         // q, k and v
                       + 2 * tokens * tokens * d  // scores, and scores x values (all heads)
                       + tokens * d * d           // output projection
                       + 2 * tokens * d * mlp;    // the MLP's two layers
  // The last block computes the class token's output alone (model/vit.cpp): every token's k and
  // v, and for that one token its q, scores, scores x values, output projection and MLP.
  const double last = tokens * d * 2 * d + d * d + 2 * tokens * d + d * d + 2 * d * mlp;
  const double blocks = config.n_blocks > 0
                            ? static_cast<double>(config.n_blocks - 1) * block + last
                            : 0.0;
  const double head = d * static_cast<double>(num_classes);
  ModelCost cost;
  cost.forward_flops = 2 * (embed + blocks + head);
  cost.train_flops = 3 * cost.forward_flops;
  return cost;
}

}  // namespace vit
