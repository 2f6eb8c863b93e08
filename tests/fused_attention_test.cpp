#include "model/fused_attention.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <tuple>

namespace vit {
namespace {

struct Shape {
  int64_t n, t, dim, heads;
};

// Forward output and qkv gradient (for a random output gradient) of one kernel.
std::tuple<torch::Tensor, torch::Tensor> run(bool fused, const torch::Tensor& qkv_init,
                                             const torch::Tensor& grad, int64_t heads) {
  auto qkv = qkv_init.clone().requires_grad_(true);
  const double scale = 1.0 / std::sqrt(static_cast<double>(qkv.size(2) / 3 / heads));
  auto out = fused ? fused_attention(qkv, heads, scale) : matmul_attention(qkv, heads, scale);
  out.backward(grad);
  return {out.detach(), qkv.grad()};
}

class FusedAttention : public ::testing::TestWithParam<Shape> {};

TEST_P(FusedAttention, MatchesTheMatmulFormulationForwardAndBackward) {
  const Shape s = GetParam();
  torch::manual_seed(3);
  // Spread-out scores, so that the softmax is far from uniform and exp is tested over a range.
  const auto qkv = torch::randn({s.n, s.t, 3 * s.dim}) * 2.0;
  const auto grad = torch::randn({s.n, s.t, s.dim});
  const auto [out_ref, dqkv_ref] = run(false, qkv, grad, s.heads);
  const auto [out, dqkv] = run(true, qkv, grad, s.heads);
  EXPECT_TRUE(torch::allclose(out, out_ref, 1e-5, 1e-5))
      << (out - out_ref).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(dqkv, dqkv_ref, 1e-4, 1e-5))
      << (dqkv - dqkv_ref).abs().max().item<float>();
}

INSTANTIATE_TEST_SUITE_P(Shapes, FusedAttention,
                         ::testing::Values(Shape{4, 50, 8, 2},   // the seed model
                                           Shape{3, 50, 64, 4},  // mnist-small
                                           Shape{2, 17, 12, 3},  // odd sizes
                                           Shape{1, 1, 4, 1},    // one token
                                           // Two full blocks of 16 images and a part of one:
                                           Shape{37, 50, 8, 2},
                                           Shape{16, 9, 16, 2},    // head width 8
                                           Shape{5, 7, 12, 2},     // width 6: the general kernel
                                           Shape{3, 5, 128, 2},   // width 64: the widest
                                           // Full blocks copied by 8 x 8 transposes (heads a
                                           // multiple of 8 wide) and a partial one: the speedrun
                                           // model (width 16), the general kernel at width 24.
                                           Shape{37, 17, 96, 6},
                                           Shape{33, 5, 48, 2}));

TEST(FusedAttentionKernel, HeadsWiderThanTheKernelTakesUseTheMatmulFormulation) {
  const auto wide = torch::zeros({1, 2, 3 * 130});  // 130 = 2 heads of 65
  EXPECT_TRUE(use_fused_attention(wide, 10, AttentionKernel::kAuto));  // 10 heads of 13
  EXPECT_FALSE(use_fused_attention(wide, 2, AttentionKernel::kAuto));
  EXPECT_THROW(fused_attention(wide, 2, 1.0), std::exception);
}

TEST(FusedAttentionKernel, ChoiceFollowsTheSettingAndTheTensor) {
  const auto cpu = torch::zeros({1, 2, 6});
  EXPECT_TRUE(use_fused_attention(cpu, 1, AttentionKernel::kAuto));
  EXPECT_FALSE(use_fused_attention(cpu.to(torch::kFloat64), 1, AttentionKernel::kAuto));
  EXPECT_FALSE(use_fused_attention(cpu, 1, AttentionKernel::kMatmul));
  EXPECT_TRUE(use_fused_attention(cpu, 1, AttentionKernel::kFused));
  EXPECT_THROW(parse_attention_kernel("flash"), std::exception);
}

TEST(FusedAttentionKernel, EveryRowOfWeightsSumsToOne) {
  // With v = 1 everywhere the output is the row sum of the weights.
  auto qkv = torch::randn({2, 9, 12}) * 30.0;  // large scores: exp's clamp and range reduction
  qkv.narrow(2, 8, 4).fill_(1.0);
  const auto out = fused_attention(qkv, 2, 0.5);
  EXPECT_TRUE(torch::allclose(out, torch::ones_like(out), 1e-5, 1e-5));
}

}  // namespace
}  // namespace vit
