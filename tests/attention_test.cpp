// Multi-head self-attention: head count, no mixing across sequences, equal to a per-head loop.
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

}  // namespace
}  // namespace vit
