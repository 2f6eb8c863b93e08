#include "model/fused_gelu.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <tuple>

namespace vit {
namespace {

// Output and the gradients of h and bias (for the output gradient `grad`): fused, or the exact
// GELU (LibTorch's in float64, rounded to float). Not LibTorch's float32 GELU: it is approximate
// itself, and differently so per build and CPU (PyPI's 2.11 on AVX-512 gives -1.19e-6 at -5,
// where the exact value is -1.43e-6).
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> run(bool fused, const torch::Tensor& h0,
                                                            const torch::Tensor& b0,
                                                            const torch::Tensor& grad) {
  const auto type = fused ? torch::kFloat32 : torch::kFloat64;
  auto h = h0.to(type).clone().requires_grad_(true);
  auto b = b0.to(type).clone().requires_grad_(true);
  auto y = fused ? bias_gelu(h, b) : torch::gelu(h + b);
  y.backward(grad.to(type));
  return {y.detach().to(torch::kFloat32), h.grad().to(torch::kFloat32),
          b.grad().to(torch::kFloat32)};
}

class FusedGelu : public ::testing::TestWithParam<std::vector<int64_t>> {};

TEST_P(FusedGelu, MatchesLibTorchForwardAndBackward) {
  torch::manual_seed(5);
  const auto sizes = GetParam();
  const auto h = torch::randn(sizes) * 3.0;  // far into both tails
  const auto b = torch::randn({sizes.back()});
  const auto grad = torch::randn(sizes);
  ASSERT_TRUE(use_fused_gelu(h));
  const auto [y_ref, dh_ref, db_ref] = run(false, h, b, grad);
  const auto [y, dh, db] = run(true, h, b, grad);
  EXPECT_TRUE(torch::allclose(y, y_ref, 1e-5, 1e-6)) << (y - y_ref).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(dh, dh_ref, 1e-5, 1e-6)) << (dh - dh_ref).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(db, db_ref, 1e-4, 1e-4)) << (db - db_ref).abs().max().item<float>();
}

INSTANTIATE_TEST_SUITE_P(Shapes, FusedGelu,
                         ::testing::Values(std::vector<int64_t>{4, 50, 32},   // the seed model
                                           std::vector<int64_t>{3, 50, 128},  // mnist-small
                                           std::vector<int64_t>{1000, 37},    // 4 chunks, odd
                                           std::vector<int64_t>{1, 1, 1}));

TEST(FusedGeluKernel, TailsAndHugeValuesStayFiniteAndNaNPropagates) {
  const float big = 1e30f, nan = std::numeric_limits<float>::quiet_NaN();
  const auto h = torch::tensor({-1e30f, -30.0f, -9.0f, -5.0f, -0.5f, 0.0f, 0.5f, 5.0f, 9.0f, 30.0f,
                                big, nan});
  const auto b = torch::zeros({h.size(0)});
  const auto [y_ref, dh_ref, db_ref] = run(false, h, b, torch::ones_like(h));
  const auto [y, dh, db] = run(true, h, b, torch::ones_like(h));
  const auto finite = torch::arange(h.size(0) - 1);
  EXPECT_TRUE(torch::allclose(y.index({finite}), y_ref.index({finite}), 1e-6, 1e-7)) << y;
  EXPECT_TRUE(torch::allclose(dh.index({finite}), dh_ref.index({finite}), 1e-6, 1e-7)) << dh;
  EXPECT_TRUE(std::isnan(y[-1].item<float>()));
  EXPECT_TRUE(std::isnan(dh[-1].item<float>()));
  EXPECT_TRUE(std::isnan(db[-1].item<float>()));
}

TEST(FusedGeluKernel, BiasGradientIsTheSameOnOneThreadAndTwo) {
  torch::manual_seed(6);
  const auto h = torch::randn({3000, 24});
  const auto b = torch::randn({24});
  const auto grad = torch::randn({3000, 24});
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  const auto [y1, dh1, db1] = run(true, h, b, grad);
  torch::set_num_threads(2);
  const auto [y2, dh2, db2] = run(true, h, b, grad);
  torch::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(y1, y2));
  EXPECT_TRUE(torch::equal(dh1, dh2));
  EXPECT_TRUE(torch::equal(db1, db2));
}

TEST(FusedGeluKernel, OtherTypesUseLibTorchAndBadBiasesAreRefused) {
  const auto h = torch::randn({5, 6}, torch::kFloat64);
  const auto b = torch::randn({6}, torch::kFloat64);
  EXPECT_FALSE(use_fused_gelu(h));
  EXPECT_TRUE(torch::equal(bias_gelu(h, b), torch::gelu(h + b)));
  EXPECT_THROW(bias_gelu(torch::randn({5, 6}), torch::randn({7})), std::exception);
}

}  // namespace
}  // namespace vit
