#include "model/image_attention.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <tuple>

#include "model/fused_attention.h"  // matmul_attention: the reference

namespace vit {
namespace {

struct Shape {
  int64_t n, t, dim, heads;
};

ImageAttentionShape shape_of(const Shape& s) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(s.dim / s.heads));
  return {s.n, s.t, s.dim, s.heads, static_cast<float>(scale)};
}

// The kernel's output, saved weights and qkv gradient for `grad`.
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> run_kernel(const Shape& s,
                                                                   const torch::Tensor& qkv,
                                                                   const torch::Tensor& grad) {
  auto out = torch::empty({s.n, s.t, s.dim});
  // Filled with NaN: every element the kernel should write and does not shows.
  auto weights =
      torch::full({s.n, s.heads, s.t, image_attention_stride(s.t)}, std::nanf(""));
  auto dqkv = torch::full_like(qkv, std::nanf(""));
  image_attention_forward(shape_of(s), qkv.data_ptr<float>(), out.data_ptr<float>(),
                          weights.data_ptr<float>());
  image_attention_backward(shape_of(s), qkv.data_ptr<float>(), weights.data_ptr<float>(),
                           grad.data_ptr<float>(), dqkv.data_ptr<float>());
  return {out, weights, dqkv};
}

class ImageAttention : public ::testing::TestWithParam<Shape> {
 protected:
  void SetUp() override {
    if (!image_attention_runs(GetParam().dim / GetParam().heads)) {
      GTEST_SKIP() << "this CPU has no AVX2 with FMA";
    }
  }
};

TEST_P(ImageAttention, MatchesTheMatmulFormulationForwardAndBackward) {
  const Shape s = GetParam();
  torch::manual_seed(5);
  // Spread-out scores, so that the softmax is far from uniform and exp is tested over a range.
  const auto qkv = torch::randn({s.n, s.t, 3 * s.dim}) * 2.0;
  const auto grad = torch::randn({s.n, s.t, s.dim});
  auto ref_in = qkv.clone().requires_grad_(true);
  const auto ref = matmul_attention(ref_in, s.heads, shape_of(s).scale);
  ref.backward(grad);

  const auto [out, weights, dqkv] = run_kernel(s, qkv, grad);
  EXPECT_TRUE(torch::allclose(out, ref.detach(), 1e-5, 1e-5))
      << (out - ref).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(dqkv, ref_in.grad(), 1e-4, 1e-5))
      << (dqkv - ref_in.grad()).abs().max().item<float>();
  // Each row of weights sums to one over its tokens; the padding columns are 0.
  const auto real = weights.narrow(3, 0, s.t);
  EXPECT_TRUE(torch::allclose(real.sum(3), torch::ones({s.n, s.heads, s.t}), 1e-5, 1e-5));
  const int64_t pad = image_attention_stride(s.t) - s.t;
  if (pad > 0) {
    EXPECT_TRUE(weights.narrow(3, s.t, pad).eq(0).all().item<bool>());
  }
}

TEST_P(ImageAttention, EveryImageIsComputedAlone) {
  // The images of a batch and the same images one call each: the same bits (what makes the
  // batch-parallel threads' results independent of how a batch is split).
  const Shape s = GetParam();
  torch::manual_seed(6);
  const auto qkv = torch::randn({s.n, s.t, 3 * s.dim});
  const auto grad = torch::randn({s.n, s.t, s.dim});
  const auto [out, weights, dqkv] = run_kernel(s, qkv, grad);
  for (int64_t i = 0; i < s.n; ++i) {
    const Shape one{1, s.t, s.dim, s.heads};
    const auto [o, w, d] = run_kernel(one, qkv.narrow(0, i, 1).contiguous(),
                                      grad.narrow(0, i, 1).contiguous());
    EXPECT_TRUE(torch::equal(o, out.narrow(0, i, 1))) << "image " << i;
    EXPECT_TRUE(torch::equal(d, dqkv.narrow(0, i, 1))) << "image " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ImageAttention,
                         ::testing::Values(Shape{3, 50, 64, 4},   // mnist-small
                                           Shape{5, 17, 96, 6},   // the speedrun model
                                           Shape{2, 9, 16, 2},    // head width 8
                                           Shape{2, 5, 48, 2},    // width 24: 16 + 8 columns
                                           Shape{2, 5, 128, 2},   // width 64: the widest
                                           Shape{2, 8, 16, 1},    // no padding (8 tokens)
                                           Shape{2, 4, 16, 1},    // one full tile of 4 rows
                                           Shape{1, 1, 8, 1}));   // one token

TEST(ImageAttentionKernel, RunsOnlyForHeadsAMultipleOf8Wide) {
  EXPECT_FALSE(image_attention_runs(4));
  EXPECT_FALSE(image_attention_runs(12));
  EXPECT_FALSE(image_attention_runs(0));
  EXPECT_EQ(image_attention_stride(50), 56);
  EXPECT_EQ(image_attention_stride(8), 8);
  EXPECT_EQ(image_attention_stride(1), 8);
}

TEST(ImageAttentionKernel, LargeScoresStayFiniteAndANaNSpreads) {
  const Shape s{2, 9, 16, 1};
  if (!image_attention_runs(16)) GTEST_SKIP() << "this CPU has no AVX2 with FMA";
  torch::manual_seed(7);
  auto qkv = torch::randn({s.n, s.t, 3 * s.dim}) * 30.0;  // exp's clamp and range reduction
  const auto grad = torch::randn({s.n, s.t, s.dim});
  auto [out, weights, dqkv] = run_kernel(s, qkv, grad);
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(dqkv).all().item<bool>());
  // A NaN in one image's query reaches that image's output (a diverging run is seen) and only it.
  qkv[1][3][0] = std::numeric_limits<float>::quiet_NaN();
  std::tie(out, weights, dqkv) = run_kernel(s, qkv, grad);
  EXPECT_TRUE(torch::isnan(out[1][3]).any().item<bool>());
  EXPECT_TRUE(torch::isfinite(out[0]).all().item<bool>());
}

}  // namespace
}  // namespace vit
