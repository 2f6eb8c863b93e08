// The class token's attention: the Function's output and gradients equal the textbook per-head
// computation (written here with LibTorch's operators, in float64), at the model's head widths,
// one token and many; the matmul choice and autocast keep LibTorch's operators; shapes are named.
#include "model/class_token_attention.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "util/error.h"

namespace vit {
namespace {

struct Case {
  int64_t images, tokens, dim, heads;
};

// {output, dx, dweight, dbias} for the loss sum(out * target).
std::vector<torch::Tensor> run(bool kernel, const torch::Tensor& x0, const torch::Tensor& w0,
                               const torch::Tensor& b0, const torch::Tensor& target,
                               int64_t heads) {
  const auto type = kernel ? torch::kFloat32 : torch::kFloat64;
  auto x = x0.to(type).requires_grad_(true);
  auto w = w0.to(type).requires_grad_(true);
  auto b = b0.to(type).requires_grad_(true);
  const int64_t n = x.size(0), d = x.size(2), hd = d / heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  torch::Tensor out;
  if (kernel) {
    EXPECT_TRUE(use_class_token_kernel(x, w, AttentionKernel::kFused));
    out = class_token_attention(x, w, b, heads, scale, AttentionKernel::kFused);
  } else {
    // Every token's q, k and v, then token 0's row of weights per head.
    const auto qkv = torch::linear(x, w, b);
    std::vector<torch::Tensor> per_head;
    for (int64_t h = 0; h < heads; ++h) {
      const auto q = qkv.select(1, 0).narrow(1, h * hd, hd).unsqueeze(1);  // (N, 1, hd)
      const auto k = qkv.narrow(2, d + h * hd, hd), v = qkv.narrow(2, 2 * d + h * hd, hd);
      const auto weights = torch::softmax(torch::bmm(q, k.transpose(1, 2)) * scale, -1);
      per_head.push_back(torch::bmm(weights, v).squeeze(1));  // (N, hd)
    }
    out = torch::cat(per_head, 1);
  }
  EXPECT_EQ(out.sizes(), torch::IntArrayRef({n, d}));
  (out * target.to(type)).sum().backward();
  return {out.detach().to(torch::kFloat32), x.grad().to(torch::kFloat32),
          w.grad().to(torch::kFloat32), b.grad().to(torch::kFloat32)};
}

class ClassTokenAttention : public ::testing::TestWithParam<Case> {};

TEST_P(ClassTokenAttention, MatchesThePerHeadComputationForwardAndBackward) {
  const Case c = GetParam();
  torch::manual_seed(11);
  const auto x = torch::randn({c.images, c.tokens, c.dim});
  const auto w = torch::randn({3 * c.dim, c.dim}) / std::sqrt(static_cast<double>(c.dim));
  const auto b = torch::randn({3 * c.dim}) * 0.1;
  const auto target = torch::randn({c.images, c.dim});
  const auto expected = run(false, x, w, b, target, c.heads);
  const auto got = run(true, x, w, b, target, c.heads);
  const char* names[] = {"output", "dx", "dweight", "dbias"};
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_EQ(got[i].sizes(), expected[i].sizes()) << names[i];
    EXPECT_TRUE(torch::allclose(got[i], expected[i], 1e-4, 1e-4))
        << names[i] << ": largest difference " << (got[i] - expected[i]).abs().max().item<float>();
  }
  // The other tokens reach the gradient through their keys and values.
  if (c.tokens > 1) {
    EXPECT_GT(got[1].narrow(1, 1, c.tokens - 1).abs().sum().item<float>(), 0.0f);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ClassTokenAttention,
                         ::testing::Values(Case{3, 50, 8, 2},    // the seed model: heads of 4
                                           Case{5, 17, 96, 6},   // the speedrun model
                                           Case{4, 50, 64, 4},   // mnist-small
                                           Case{20, 9, 24, 3},   // several tasks, odd heads
                                           Case{2, 1, 16, 2}));  // the class token alone

TEST(ClassTokenAttentionKernel, SameResultOnOneThreadAndOnTwo) {
  torch::manual_seed(2);
  const auto x = torch::randn({40, 17, 32});
  const auto w = torch::randn({96, 32}) * 0.2, b = torch::randn({96}) * 0.1;
  const auto target = torch::randn({40, 32});
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = run(true, x, w, b, target, 2);
  at::set_num_threads(2);
  const auto two = run(true, x, w, b, target, 2);
  at::set_num_threads(threads);
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(torch::equal(one[i], two[i])) << i;
}

TEST(ClassTokenAttentionKernel, TheMatmulChoiceAndOtherTypesKeepLibTorchsOperators) {
  const auto x = torch::randn({2, 5, 8}), w = torch::randn({24, 8});
  EXPECT_TRUE(use_class_token_kernel(x, w, AttentionKernel::kAuto));
  EXPECT_FALSE(use_class_token_kernel(x, w, AttentionKernel::kMatmul));
  EXPECT_FALSE(use_class_token_kernel(x.to(torch::kFloat64), w.to(torch::kFloat64),
                                      AttentionKernel::kFused));
  // Both give the same numbers.
  const auto b = torch::randn({24});
  const auto fused = class_token_attention(x, w, b, 2, 0.5, AttentionKernel::kFused);
  const auto matmul = class_token_attention(x, w, b, 2, 0.5, AttentionKernel::kMatmul);
  EXPECT_TRUE(torch::allclose(fused, matmul, 1e-5, 1e-6));
}

TEST(ClassTokenAttentionKernel, MismatchedShapesAreNamed) {
  const auto w = torch::randn({24, 8}), b = torch::randn({24});
  try {
    class_token_attention(torch::randn({2, 5, 8}), w.narrow(0, 0, 16), b, 2, 0.5,
                          AttentionKernel::kFused);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a qkv weight of [16, 8]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(
      class_token_attention(torch::randn({2, 5, 8}), w, b, 3, 0.5, AttentionKernel::kFused), Error);
  EXPECT_THROW(
      class_token_attention(torch::randn({2, 0, 8}), w, b, 2, 0.5, AttentionKernel::kFused), Error);
}

}  // namespace
}  // namespace vit
