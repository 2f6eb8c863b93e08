// The whole model, the tutorial's steps 1 to 5: shapes through the network, the class token,
// positions as a buffer, padding, the image shape it accepts and the seed model's size.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "model/block.h"
#include "model/vit.h"
#include "util/error.h"

namespace vit {
namespace {

ModelConfig tutorial_config() { return ModelConfig{}; }  // 7 patches, hidden 8, 2 heads, 2 blocks

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

TEST(VisionTransformer, TheLastBlockComputingTheClassTokenAloneGivesTheFullModelsLogits) {
  // forward() runs the last block for the class token alone; every block in full and the head
  // on token 0 give the same logits, and a block's class-token output is its full output's first
  // token, with the same gradients (the other tokens reach it through k and v).
  torch::manual_seed(0);
  ModelConfig config;
  config.n_blocks = 3;
  VisionTransformer model(config, ImageShape{1, 28, 28}, 10);
  const auto images = torch::rand({4, 1, 28, 28});
  auto x = model->embed(images);
  for (const auto& block : *model->blocks()) x = block->as<BlockImpl>()->forward(x);
  const auto params = model->named_parameters();
  const auto full = torch::linear(x.select(1, 0), params["head.weight"], params["head.bias"]);
  EXPECT_TRUE(torch::allclose(model->forward(images), full, 1e-4, 1e-5));

  auto& block = *model->blocks()[2]->as<BlockImpl>();
  const auto tokens = torch::randn({4, 50, 8}).requires_grad_(true);
  const auto alone = block.forward_class_token(tokens);
  const auto first = block.forward(tokens).select(1, 0);
  EXPECT_TRUE(torch::allclose(alone, first, 1e-4, 1e-5));
  const auto target = torch::randn({4, 8});
  const auto grads = [&](const torch::Tensor& out) {
    return torch::autograd::grad({(out * target).sum()}, {tokens, params["blocks.2.mlp.fc1.weight"],
                                                          params["blocks.2.attention.qkv.weight"]});
  };
  const auto a = grads(alone), b = grads(first);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-4, 1e-5)) << i;
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

TEST(VisionTransformer, ParameterCountOfTheSeedModel) {
  VisionTransformer model(tutorial_config(), ImageShape{1, 28, 28}, 10);
  // patch linear 16*8+8, class token 8; per block: 2 LayerNorms 2*16, qkv 8*24+24, out 8*8+8,
  // MLP 8*32+32 + 32*8+8; head 8*10+10.
  const int64_t block = 32 + 216 + 72 + 288 + 264;
  EXPECT_EQ(count_parameters(*model), 136 + 8 + 2 * block + 90);
}

}  // namespace
}  // namespace vit
