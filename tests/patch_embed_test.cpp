// Patchify, the tutorial's step 1: shapes, values, channel order and padding.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "model/patch_embed.h"

namespace vit {
namespace {

TEST(Patchify, TutorialShape) {
  const auto images = torch::rand({3, 1, 28, 28});
  EXPECT_EQ(patchify(images, 7).sizes(), torch::IntArrayRef({3, 49, 16}));
}

TEST(Patchify, ContentsMatchHandComputation) {
  // Pixel value = its flat index, so every patch entry can be predicted by hand.
  const auto images = torch::arange(2 * 28 * 28, torch::kFloat32).reshape({2, 1, 28, 28});
  const auto patches = patchify(images, 7);
  // Image 1, patch (row 2, column 3): top-left pixel (8, 12); entry k is pixel (8 + k/4, 12 + k%4).
  const int64_t patch = 2 * 7 + 3;
  for (int64_t k = 0; k < 16; ++k) {
    const float expected = 28 * 28 + (8 + k / 4) * 28 + (12 + k % 4);
    EXPECT_EQ(patches[1][patch][k].item<float>(), expected) << "entry " << k;
  }
}

TEST(Patchify, ChannelsAreFlattenedIntoThePatchVector) {
  const auto images = torch::arange(2 * 4 * 4, torch::kFloat32).reshape({1, 2, 4, 4});
  const auto patches = patchify(images, 2);  // 2x2 patches of 2x2 pixels, 2 channels
  ASSERT_EQ(patches.sizes(), torch::IntArrayRef({1, 4, 8}));
  // Patch 0 = channel 0's top-left 2x2 block, then channel 1's.
  const std::vector<float> expected = {0, 1, 4, 5, 16, 17, 20, 21};
  for (size_t k = 0; k < expected.size(); ++k) {
    EXPECT_EQ(patches[0][0][static_cast<int64_t>(k)].item<float>(), expected[k]);
  }
}

TEST(Patchify, PadsWhenTheSideIsNotAMultiple) {
  // 28 is not a multiple of 8: the image is padded to 32, patches are 4x4, and the padded
  // pixels (rows and columns 28..31) are zero.
  const auto images = torch::ones({2, 1, 28, 28});
  const auto patches = patchify(images, 8);
  ASSERT_EQ(patches.sizes(), torch::IntArrayRef({2, 64, 16}));
  EXPECT_EQ(patches[0][0].sum().item<float>(), 16);       // interior patch: all ones
  EXPECT_EQ(patches[0][63].sum().item<float>(), 0);       // bottom-right: all padding
  EXPECT_EQ(patches.sum().item<float>(), 2 * 28 * 28);     // padding adds nothing
}

}  // namespace
}  // namespace vit
