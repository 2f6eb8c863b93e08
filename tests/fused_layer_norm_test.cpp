#include "model/fused_layer_norm.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <tuple>

namespace vit {
namespace {

struct Result {
  torch::Tensor y, dx, dweight, dbias;
};

// A LayerNorm over `cols` with a random scale and shift (the same for every call).
torch::nn::LayerNorm make_norm(int64_t cols) {
  torch::manual_seed(11);
  torch::nn::LayerNorm norm(torch::nn::LayerNormOptions({cols}));
  torch::NoGradGuard no_grad;
  norm->weight.copy_(torch::randn({cols}));
  norm->bias.copy_(torch::randn({cols}));
  return norm;
}

Result run(bool fused, const torch::Tensor& x0, const torch::Tensor& grad) {
  auto norm = make_norm(x0.size(-1));
  auto x = x0.clone().requires_grad_(true);
  auto y = fused ? layer_norm(x, norm) : norm->forward(x);
  y.backward(grad);
  return {y.detach(), x.grad(), norm->weight.grad(), norm->bias.grad()};
}

void expect_close(const Result& a, const Result& b, double rtol, double atol) {
  EXPECT_TRUE(torch::allclose(a.y, b.y, rtol, atol)) << (a.y - b.y).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(a.dx, b.dx, rtol, atol)) << (a.dx - b.dx).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(a.dweight, b.dweight, 1e-4, 1e-4))
      << (a.dweight - b.dweight).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(a.dbias, b.dbias, 1e-4, 1e-4))
      << (a.dbias - b.dbias).abs().max().item<float>();
}

class FusedLayerNorm : public ::testing::TestWithParam<std::vector<int64_t>> {};

TEST_P(FusedLayerNorm, MatchesLibTorchForwardAndBackward) {
  const auto sizes = GetParam();
  torch::manual_seed(12);
  const auto x = torch::randn(sizes) * 2.0 + 0.5;
  const auto grad = torch::randn(sizes);
  ASSERT_TRUE(use_fused_layer_norm(x, make_norm(sizes.back())));
  expect_close(run(true, x, grad), run(false, x, grad), 1e-4, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, FusedLayerNorm,
                         ::testing::Values(std::vector<int64_t>{4, 50, 8},   // the seed model
                                           std::vector<int64_t>{3, 50, 64},  // mnist-small
                                           std::vector<int64_t>{2, 17, 96},  // the speedrun's
                                           std::vector<int64_t>{700, 5},     // 3 chunks, odd
                                           std::vector<int64_t>{1, 1, 1}));

TEST(FusedLayerNormKernel, LargeOffsetsAndConstantRows) {
  torch::manual_seed(13);
  // Rows far from zero with a small spread: the variance must be taken around the mean (E[x^2] -
  // E[x]^2 would cancel to noise). The floats' own spacing at 1000 limits both programs, so each
  // is compared with the same norm in double precision: the fused kernel's error is no larger
  // than twice LibTorch's. A constant row normalises to the shift.
  auto x = torch::randn({6, 64}) * 0.01 + 1000.0;
  x[5].fill_(3.0);
  const auto grad = torch::randn({6, 64});
  const Result fused = run(true, x, grad), ref = run(false, x, grad);
  auto norm64 = make_norm(64);
  norm64->to(torch::kFloat64);
  const auto exact = norm64->forward(x.to(torch::kFloat64)).to(torch::kFloat32);
  const float fused_error = (fused.y - exact).abs().max().item<float>();
  const float libtorch_error = (ref.y - exact).abs().max().item<float>();
  EXPECT_LE(fused_error, 2.0f * libtorch_error + 1e-5f) << fused_error << " vs " << libtorch_error;
  EXPECT_TRUE(torch::allclose(fused.y[5], make_norm(64)->bias.detach()));
  EXPECT_TRUE(torch::isfinite(fused.dx).all().item<bool>());
}

TEST(FusedLayerNormKernel, GradientsAreTheSameOnOneThreadAndTwo) {
  torch::manual_seed(14);
  const auto x = torch::randn({2000, 24});
  const auto grad = torch::randn({2000, 24});
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  const Result one = run(true, x, grad);
  torch::set_num_threads(2);
  const Result two = run(true, x, grad);
  torch::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.y, two.y));
  EXPECT_TRUE(torch::equal(one.dx, two.dx));
  EXPECT_TRUE(torch::equal(one.dweight, two.dweight));
  EXPECT_TRUE(torch::equal(one.dbias, two.dbias));
}

TEST(FusedLayerNormKernel, OtherTypesAndShapesUseTheModule) {
  auto norm = make_norm(6);
  EXPECT_FALSE(use_fused_layer_norm(torch::randn({5, 6}, torch::kFloat64), norm));
  EXPECT_FALSE(use_fused_layer_norm(torch::randn({5, 7}), norm));
  torch::nn::LayerNorm plain(torch::nn::LayerNormOptions({6}).elementwise_affine(false));
  EXPECT_FALSE(use_fused_layer_norm(torch::randn({5, 6}), plain));
  const auto x = torch::randn({5, 6});
  EXPECT_TRUE(torch::equal(layer_norm(x, plain), plain->forward(x)));
}

}  // namespace
}  // namespace vit
