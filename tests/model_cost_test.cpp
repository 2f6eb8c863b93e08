// The FLOPs counted per image: the seed model's by hand, padded patches and channels, a block's
// share, the same for every block but the last and by the formula at mnist-small's width, and the
// last block's (the class token's outputs alone).
#include "model/model_cost.h"

#include <gtest/gtest.h>

namespace vit {
namespace {

TEST(ModelCost, TheSeedModelByHand) {
  // 49 patches of 16 pixels, 50 tokens of width 8, 2 blocks with an MLP of 32, 10 classes; the
  // second block computes the class token alone (its q, 1 x 50 scores and their values, output
  // projection and MLP) besides the 50 tokens' k and v.
  const double embed = 49 * 16 * 8;
  const double block = 50 * 8 * 24 + 2 * 50 * 50 * 8 + 50 * 8 * 8 + 2 * 50 * 8 * 32;
  const double last = 50 * 8 * 16 + 8 * 8 + 2 * 50 * 8 + 8 * 8 + 2 * 8 * 32;
  const double head = 8 * 10;
  const ModelCost cost = model_cost(ModelConfig{}, ImageShape{}, 10);
  EXPECT_DOUBLE_EQ(cost.forward_flops, 2 * (embed + block + last + head));
  EXPECT_DOUBLE_EQ(cost.forward_flops, 185'184);
  EXPECT_DOUBLE_EQ(cost.train_flops, 3 * cost.forward_flops);
}

TEST(ModelCost, PaddedPatchesAndChannelsCount) {
  ModelConfig config;
  config.n_blocks = 0;
  // 3x30x30 in 7x7 patches: each patch 5x5 (padded to 35) of 3 channels = 75 values.
  const ModelCost cost = model_cost(config, ImageShape{3, 30, 30}, 10);
  EXPECT_DOUBLE_EQ(cost.forward_flops, 2 * (49 * 75 * 8 + 8 * 10));
}

TEST(ModelCost, BlocksBeforeTheLastScaleLinearlyAndWidthAboutQuadratically) {
  const auto flops = [](int64_t width, int64_t blocks) {
    return model_cost(ModelConfig{7, width, 2, blocks, 4}, ImageShape{}, 10).forward_flops;
  };
  const double per_block = flops(8, 3) - flops(8, 2);
  EXPECT_DOUBLE_EQ(flops(8, 4) - flops(8, 3), per_block);
  // mnist-small's width: 50 tokens of 64, an MLP of 256.
  EXPECT_DOUBLE_EQ(flops(64, 3) - flops(64, 2),
                   2 * (50.0 * 64 * 192 + 2 * 50 * 50 * 64 + 50 * 64 * 64 + 2 * 50 * 64 * 256));
}

TEST(ModelCost, TheLastBlockCountsTheClassTokenAlone) {
  const auto flops = [](int64_t blocks) {
    return model_cost(ModelConfig{7, 64, 2, blocks, 4}, ImageShape{}, 10).forward_flops;
  };
  // Every token's k and v; the class token's q, scores, scores x values, projection and MLP.
  const double last = flops(1) - flops(0);
  EXPECT_DOUBLE_EQ(last, 2 * (50.0 * 64 * 128 + 64 * 64 + 2 * 50 * 64 + 64 * 64 + 2 * 64 * 256));
  EXPECT_LT(last, 0.25 * (flops(2) - flops(1)));
}

}  // namespace
}  // namespace vit
