// The FLOPs counted per image: the seed model's by hand, padded patches and channels, and a
// block's share, the same for every block and by the formula at mnist-small's width.
#include "model/model_cost.h"

#include <gtest/gtest.h>

namespace vit {
namespace {

TEST(ModelCost, TheSeedModelByHand) {
  // 49 patches of 16 pixels, 50 tokens of width 8, 2 blocks with an MLP of 32, 10 classes.
  const double embed = 49 * 16 * 8;
  const double block = 50 * 8 * 24 + 2 * 50 * 50 * 8 + 50 * 8 * 8 + 2 * 50 * 8 * 32;
  const double head = 8 * 10;
  const ModelCost cost = model_cost(ModelConfig{}, ImageShape{}, 10);
  EXPECT_DOUBLE_EQ(cost.forward_flops, 2 * (embed + 2 * block + head));
  EXPECT_DOUBLE_EQ(cost.forward_flops, 326'304);
  EXPECT_DOUBLE_EQ(cost.train_flops, 3 * cost.forward_flops);
}

TEST(ModelCost, PaddedPatchesAndChannelsCount) {
  ModelConfig config;
  config.n_blocks = 0;
  // 3x30x30 in 7x7 patches: each patch 5x5 (padded to 35) of 3 channels = 75 values.
  const ModelCost cost = model_cost(config, ImageShape{3, 30, 30}, 10);
  EXPECT_DOUBLE_EQ(cost.forward_flops, 2 * (49 * 75 * 8 + 8 * 10));
}

TEST(ModelCost, BlocksScaleLinearlyAndWidthAboutQuadratically) {
  ModelConfig one;
  one.n_blocks = 1;
  ModelConfig two = one;
  two.n_blocks = 2;
  ModelConfig none = one;
  none.n_blocks = 0;
  const double per_block = model_cost(one, ImageShape{}, 10).forward_flops -
                           model_cost(none, ImageShape{}, 10).forward_flops;
  EXPECT_DOUBLE_EQ(model_cost(two, ImageShape{}, 10).forward_flops -
                       model_cost(one, ImageShape{}, 10).forward_flops,
                   per_block);
  ModelConfig wide = one;
  wide.hidden_d = 64;  // mnist-small's width
  const double wide_block = model_cost(wide, ImageShape{}, 10).forward_flops -
                            model_cost(ModelConfig{7, 64, 2, 0, 4}, ImageShape{}, 10).forward_flops;
  EXPECT_DOUBLE_EQ(wide_block, 2 * (50.0 * 64 * 192 + 2 * 50 * 50 * 64 + 50 * 64 * 64 +
                                    2 * 50 * 64 * 256));
}

}  // namespace
}  // namespace vit
