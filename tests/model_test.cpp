// The tutorial's shapes and values, step by step: patches, tokens, positions, a block, logits.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "model/attention.h"
#include "model/block.h"
#include "model/patch_embed.h"
#include "model/positional.h"
#include "model/vit.h"
#include "util/error.h"

namespace vit {
namespace {

ModelConfig tutorial_config() { return ModelConfig{}; }  // 7 patches, hidden 8, 2 heads, 2 blocks

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

TEST(Positional, MatchesTheFormula) {
  const auto table = sincos_positions(50, 8);
  ASSERT_EQ(table.sizes(), torch::IntArrayRef({50, 8}));
  EXPECT_FLOAT_EQ(table[0][0].item<float>(), 0.0f);  // sin(0)
  EXPECT_FLOAT_EQ(table[0][1].item<float>(), 1.0f);  // cos(0)
  EXPECT_FLOAT_EQ(table[1][0].item<float>(), static_cast<float>(std::sin(1.0)));
  EXPECT_FLOAT_EQ(table[1][1].item<float>(), static_cast<float>(std::cos(1.0)));
  // (i=7, j=2): sin(7 / 10000^(2/8)) = sin(0.7); (i=7, j=3): cos(7 / 10000^(2/8)) = cos(0.7)
  EXPECT_NEAR(table[7][2].item<float>(), std::sin(0.7), 1e-6);
  EXPECT_NEAR(table[7][3].item<float>(), std::cos(0.7), 1e-6);
  // (i=49, j=6): sin(49 / 10000^(6/8)) = sin(49 / 1000)
  EXPECT_NEAR(table[49][6].item<float>(), std::sin(0.049), 1e-6);
}

TEST(VisionTransformer, TutorialShapesThroughTheNetwork) {
  torch::manual_seed(0);
  VisionTransformer model(tutorial_config(), ImageShape{1, 28, 28}, 10);
  const auto images = torch::rand({3, 1, 28, 28});
  const auto tokens = model->embed(images);
  EXPECT_EQ(tokens.sizes(), torch::IntArrayRef({3, 50, 8}));
  const auto after_block = model->blocks()[0]->as<BlockImpl>()->forward(tokens);
  EXPECT_EQ(after_block.sizes(), torch::IntArrayRef({3, 50, 8}));
  EXPECT_EQ(model->forward(images).sizes(), torch::IntArrayRef({3, 10}));
}

TEST(VisionTransformer, ClassTokenIsPositionZero) {
  torch::manual_seed(0);
  VisionTransformer model(tutorial_config(), ImageShape{1, 28, 28}, 10);
  const auto images = torch::rand({2, 1, 28, 28});
  const auto tokens = model->embed(images);
  const auto expected = model->patch_embed()->class_token().reshape({8}) + model->positions()[0];
  for (int64_t i = 0; i < 2; ++i) EXPECT_TRUE(torch::allclose(tokens[i][0], expected));
  // The other positions depend on the image; position 0 does not.
  EXPECT_FALSE(torch::allclose(tokens[0][1], tokens[1][1]));
}

TEST(VisionTransformer, PositionsAreABufferNotAParameter) {
  VisionTransformer model(tutorial_config(), ImageShape{1, 28, 28}, 10);
  for (const auto& p : model->named_parameters()) EXPECT_EQ(p.key().find("positions"), std::string::npos);
  EXPECT_NE(model->named_buffers().find("positions"), nullptr);
}

TEST(VisionTransformer, PaddedModelRuns) {
  ModelConfig config;
  config.n_patches = 8;
  VisionTransformer model(config, ImageShape{1, 28, 28}, 10);
  EXPECT_EQ(model->embed(torch::rand({2, 1, 28, 28})).sizes(), torch::IntArrayRef({2, 65, 8}));
  EXPECT_EQ(model->forward(torch::rand({2, 1, 28, 28})).sizes(), torch::IntArrayRef({2, 10}));
}

TEST(VisionTransformer, RejectsAWrongImageShape) {
  VisionTransformer model(tutorial_config(), ImageShape{1, 28, 28}, 10);
  EXPECT_THROW(model->forward(torch::rand({2, 1, 32, 32})), Error);
}

TEST(Attention, HeadsMustDivideTheWidth) {
  EXPECT_THROW(Attention(8, 3), Error);
}

TEST(Attention, EachTokenMixesOnlyItsOwnSequence) {
  // Changing one image must not change another image's output: attention is per sequence.
  torch::manual_seed(0);
  Attention attention(8, 2);
  auto x = torch::randn({2, 5, 8});
  const auto before = attention->forward(x)[1].clone();
  x[0] += 1.0;
  EXPECT_TRUE(torch::equal(attention->forward(x)[1], before));
}

TEST(Attention, MatchesAPerHeadLoop) {
  // All heads at once must equal the textbook per-head computation.
  torch::manual_seed(0);
  Attention attention(8, 2);
  const auto x = torch::randn({3, 5, 8});
  const auto params = attention->named_parameters();
  const auto qkv = torch::linear(x, params["qkv.weight"], params["qkv.bias"]);
  std::vector<torch::Tensor> heads;
  for (int64_t h = 0; h < 2; ++h) {
    const auto q = qkv.narrow(2, h * 4, 4), k = qkv.narrow(2, 8 + h * 4, 4),
               v = qkv.narrow(2, 16 + h * 4, 4);
    const auto w = torch::softmax(torch::bmm(q, k.transpose(1, 2)) / 2.0, -1);
    heads.push_back(torch::bmm(w, v));
  }
  const auto expected = torch::linear(torch::cat(heads, 2), params["out.weight"], params["out.bias"]);
  EXPECT_TRUE(torch::allclose(attention->forward(x), expected, 1e-5, 1e-6));
}

TEST(VisionTransformer, ParameterCountOfTheSeedModel) {
  VisionTransformer model(tutorial_config(), ImageShape{1, 28, 28}, 10);
  // patch linear 16*8+8, class token 8; per block: 2 LayerNorms 2*16, qkv 8*24+24, out 8*8+8,
  // MLP 8*32+32 + 32*8+8; head 8*10+10.
  const int64_t block = 32 + 216 + 72 + 288 + 264;
  EXPECT_EQ(count_parameters(*model), 136 + 8 + 2 * block + 90);
}

}  // namespace
}  // namespace vit
