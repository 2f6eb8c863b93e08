// Multi-head self-attention: head count, no mixing across sequences, equal to a per-head loop, and
// the class token's output alone equal to the full one's first token, forward and gradients.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "model/attention.h"
#include "util/error.h"

namespace vit {
namespace {

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

TEST(Attention, TheClassTokenAloneMatchesTheFullOutputAndItsGradients) {
  // Widths 8 (heads of 4: the lane kernel) and 32 (heads of 16: the per-image kernel on AVX2),
  // under both kernels: forward_class_token(x) is forward(x)'s token 0, and the gradients of a
  // loss on it reach x and every parameter alike (the other tokens through k and v alone).
  for (const int64_t width : {8, 32}) {
    for (const AttentionKernel kernel : {AttentionKernel::kFused, AttentionKernel::kMatmul}) {
      torch::manual_seed(0);
      Attention attention(width, 2, kernel);
      const auto x = torch::randn({3, 9, width}).requires_grad_(true);
      const auto target = torch::randn({3, width});
      const auto run = [&](bool class_token_alone) {
        attention->zero_grad();
        if (x.grad().defined()) x.mutable_grad().zero_();
        const auto out = class_token_alone ? attention->forward_class_token(x)
                                           : attention->forward(x).select(1, 0);
        (out * target).sum().backward();
        std::vector<torch::Tensor> result{out.detach().clone(), x.grad().clone()};
        for (const auto& p : attention->parameters()) result.push_back(p.grad().clone());
        return result;
      };
      const auto full = run(false), alone = run(true);
      ASSERT_EQ(full.size(), alone.size());
      EXPECT_EQ(alone[0].sizes(), torch::IntArrayRef({3, width}));
      for (size_t i = 0; i < full.size(); ++i) {
        EXPECT_TRUE(torch::allclose(alone[i], full[i], 1e-4, 1e-5))
            << "width " << width << ", kernel " << static_cast<int>(kernel) << ", tensor " << i
            << ": max difference " << (alone[i] - full[i]).abs().max().item<float>();
      }
      // Token 0's query is not the others': their queries get no gradient, their keys do.
      EXPECT_GT(x.grad().narrow(1, 1, 8).abs().sum().item<float>(), 0.0f);
    }
  }
}

}  // namespace
}  // namespace vit
