#include "model/linear.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <tuple>
#include <vector>

#include "train/precision.h"  // AutocastScope
#include "util/error.h"

namespace vit {
namespace {

// Output and the gradients of x, weight and bias (an undefined bias: none), ours or LibTorch's.
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor> run(
    bool ours, const torch::Tensor& x0, const torch::Tensor& w0, const torch::Tensor& b0,
    const torch::Tensor& grad) {
  auto x = x0.clone().requires_grad_(true);
  auto w = w0.clone().requires_grad_(true);
  auto b = b0.defined() ? b0.clone().requires_grad_(true) : torch::Tensor();
  auto y = ours ? linear(x, w, b) : torch::nn::functional::linear(x, w, b);
  y.backward(grad);
  return {y.detach(), x.grad(), w.grad(), b.defined() ? b.grad() : torch::Tensor()};
}

void expect_close(const torch::Tensor& a, const torch::Tensor& b, const char* what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  EXPECT_TRUE(torch::allclose(a, b, 1e-4, 1e-4))
      << what << ": largest difference " << (a - b).abs().max().item<float>();
}

struct Shape {
  std::vector<int64_t> x;  // input sizes, the last one the layer's input width
  int64_t out;
  bool bias;
};

class Linear : public ::testing::TestWithParam<Shape> {};

TEST_P(Linear, MatchesLibTorchForwardAndBackward) {
  torch::manual_seed(3);
  const Shape s = GetParam();
  const auto x = torch::randn(s.x);
  const auto w = torch::randn({s.out, s.x.back()});
  const auto b = s.bias ? torch::randn({s.out}) : torch::Tensor();
  std::vector<int64_t> out_sizes = s.x;
  out_sizes.back() = s.out;
  const auto grad = torch::randn(out_sizes);
  EXPECT_EQ(use_dnnl_linear(x, w), dnnl_linear_built());
  const auto [y_ref, dx_ref, dw_ref, db_ref] = run(false, x, w, b, grad);
  const auto [y, dx, dw, db] = run(true, x, w, b, grad);
  expect_close(y, y_ref, "output");
  expect_close(dx, dx_ref, "input gradient");
  expect_close(dw, dw_ref, "weight gradient");
  if (s.bias) expect_close(db, db_ref, "bias gradient");
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Linear,
    ::testing::Values(Shape{{3, 50, 64}, 192, true},   // mnist-small's qkv layer
                      Shape{{3, 50, 64}, 128, false},  // its MLP's first layer (bias in GELU)
                      Shape{{4, 49, 16}, 8, true},     // the seed model's patch embedding
                      Shape{{5, 64}, 10, true},        // a head
                      Shape{{7, 3, 13}, 5, true},      // odd sizes
                      Shape{{1, 1}, 1, true},          // one of each
                      Shape{{4, 1}, 9, false}));       // an input width of 1

TEST(LinearLayer, NonContiguousInputsAndAModulesParameters) {
  // The head takes the class token, a strided view of (N, T, D).
  torch::manual_seed(4);
  torch::nn::Linear head(16, 10);
  const auto tokens = torch::randn({6, 5, 16});
  const auto x = tokens.select(1, 0);
  ASSERT_FALSE(x.is_contiguous());
  const auto y = linear(x, head);
  EXPECT_TRUE(torch::allclose(y, head->forward(x), 1e-5, 1e-5));
  y.sum().backward();
  const auto dw = head->weight.grad().clone();
  head->zero_grad();
  head->forward(x).sum().backward();
  EXPECT_TRUE(torch::allclose(dw, head->weight.grad(), 1e-5, 1e-5));
}

TEST(LinearLayer, OnlyTheGradientsThatAreNeeded) {
  // A frozen weight and an input without gradient (the patch embedding's images).
  const auto x = torch::randn({8, 12});
  const auto w = torch::randn({4, 12});
  const auto b = torch::randn({4}).requires_grad_(true);
  linear(x, w, b).sum().backward();
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
  EXPECT_TRUE(torch::allclose(b.grad(), torch::full({4}, 8.0f)));
}

TEST(LinearLayer, EmptyBatchesAndEmptyInputs) {
  // No rows: an empty output; gradients of zeros for the weight and bias.
  {
    const auto [y, dx, dw, db] = run(true, torch::randn({0, 6}), torch::randn({3, 6}),
                                     torch::randn({3}), torch::randn({0, 3}));
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{0, 3}));
    EXPECT_EQ(dx.sizes(), (std::vector<int64_t>{0, 6}));
    EXPECT_TRUE(dw.eq(0).all().item<bool>());
    EXPECT_TRUE(db.eq(0).all().item<bool>());
  }
  // Inputs of width 0: the output is the bias (or zeros), the weight's gradient empty.
  const auto b = torch::randn({3});
  const auto [y, dx, dw, db] =
      run(true, torch::randn({2, 0}), torch::randn({3, 0}), b, torch::ones({2, 3}));
  EXPECT_TRUE(torch::equal(y, b.expand({2, 3})));
  EXPECT_EQ(dx.sizes(), (std::vector<int64_t>{2, 0}));
  EXPECT_TRUE(torch::equal(db, torch::full({3}, 2.0f)));
  const auto none =
      run(true, torch::randn({2, 0}), torch::randn({3, 0}), torch::Tensor(), torch::ones({2, 3}));
  EXPECT_TRUE(std::get<0>(none).eq(0).all().item<bool>());
}

TEST(LinearLayer, OtherTypesAndAutocastUseLibTorchsLayer) {
  const auto x = torch::randn({4, 8}, torch::kFloat64);
  const auto w = torch::randn({3, 8}, torch::kFloat64);
  const auto b = torch::randn({3}, torch::kFloat64);
  EXPECT_FALSE(use_dnnl_linear(x, w));
  EXPECT_TRUE(torch::equal(linear(x, w, b), torch::nn::functional::linear(x, w, b)));
  const auto xf = x.to(torch::kFloat32), wf = w.to(torch::kFloat32);
  {
    AutocastScope bf16(torch::kCPU, Precision::kBf16);
    EXPECT_FALSE(use_dnnl_linear(xf, wf));
  }
  EXPECT_EQ(use_dnnl_linear(xf, wf), dnnl_linear_built());
}

TEST(LinearLayer, SameResultEveryTime) {
  // Bit-exact resume needs the same bits from the same inputs.
  torch::manual_seed(6);
  const auto x = torch::randn({640, 64});
  const auto w = torch::randn({192, 64});
  const auto b = torch::randn({192});
  const auto grad = torch::randn({640, 192});
  const auto first = run(true, x, w, b, grad);
  const auto second = run(true, x, w, b, grad);
  EXPECT_TRUE(torch::equal(std::get<0>(first), std::get<0>(second)));
  EXPECT_TRUE(torch::equal(std::get<1>(first), std::get<1>(second)));
  EXPECT_TRUE(torch::equal(std::get<2>(first), std::get<2>(second)));
}

TEST(LinearLayer, MismatchedShapesAreNamed) {
  const auto w = torch::randn({3, 8});
  EXPECT_THROW(
      {
        try {
          linear(torch::randn({4, 7}), w, torch::Tensor());
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("linear: inputs of [4, 7]"), std::string::npos)
              << e.what();
          throw;
        }
      },
      Error);
  EXPECT_THROW(linear(torch::randn({4, 8}), w, torch::randn({4})), Error);
}

TEST(LinearLayer, TheResidualIsAddedWithItsGradient) {
  // residual + linear(x, layer), the residual contiguous or a strided view (a token of a batch
  // of sequences, as the last block's class token is): the sum and the gradients of x, weight,
  // bias and residual, against LibTorch's layer and addition.
  torch::manual_seed(9);
  torch::nn::Linear layer(12, 8);
  const auto x0 = torch::randn({5, 12});
  for (const bool strided : {false, true}) {
    const auto base = torch::randn({5, 3, 8});
    const auto grad = torch::randn({5, 8});
    const auto run = [&](bool ours) {
      layer->zero_grad();
      auto x = x0.clone().requires_grad_(true);
      auto tokens = base.clone().requires_grad_(true);
      const auto residual = strided ? tokens.select(1, 0) : tokens.sum(1);
      const auto y = ours ? linear(x, layer, residual)
                          : residual + torch::nn::functional::linear(x, layer->weight, layer->bias);
      y.backward(grad);
      return std::vector<torch::Tensor>{y.detach(), x.grad(), layer->weight.grad().clone(),
                                        layer->bias.grad().clone(), tokens.grad()};
    };
    const auto expected = run(false), got = run(true);
    for (size_t i = 0; i < expected.size(); ++i) {
      expect_close(got[i], expected[i], strided ? "strided residual" : "residual");
    }
  }
  EXPECT_THROW(linear(x0, layer, torch::randn({5, 7})), Error);
  // No residual: the layer alone.
  EXPECT_TRUE(torch::equal(linear(x0, layer, torch::Tensor()), linear(x0, layer)));
}

TEST(Sgemm, TransposesStridedRowsAndBeta) {
  // Row-major c = op(a) op(b) + beta c on views with rows further apart than their width (as the
  // class token's rows are, a token's width times the token count), in every transpose, through
  // oneDNN or LibTorch's addmm, whichever the build has; beta 0 ignores what c held (NaN here).
  torch::manual_seed(3);
  const int64_t m = 5, n = 7, k = 6, ld = 11;
  for (const char ta : {'N', 'T'}) {
    for (const char tb : {'N', 'T'}) {
      for (const float beta : {0.0f, 1.0f, 0.5f}) {
        // a's storage: m rows of k ('N') or k rows of m ('T'), ld floats apart; b's likewise.
        const auto a_store = torch::randn({ta == 'N' ? m : k, ld});
        const auto b_store = torch::randn({tb == 'N' ? k : n, ld});
        const auto a = ta == 'N' ? a_store.narrow(1, 0, k) : a_store.narrow(1, 0, m).t();
        const auto b = tb == 'N' ? b_store.narrow(1, 0, n) : b_store.narrow(1, 0, k).t();
        auto c_store = torch::randn({m, ld});
        if (beta == 0.0f) c_store.fill_(std::nanf(""));
        const auto padding = c_store.narrow(1, n, ld - n).clone();
        const auto before = beta == 0.0f ? torch::zeros({m, n}) : beta * c_store.narrow(1, 0, n);
        const auto expected = torch::mm(a, b) + before;
        sgemm(ta, tb, m, n, k, a_store.data_ptr<float>(), ld, b_store.data_ptr<float>(), ld, beta,
              c_store.data_ptr<float>(), ld);
        EXPECT_TRUE(torch::allclose(c_store.narrow(1, 0, n), expected, 1e-5, 1e-5))
            << ta << tb << " beta " << beta;
        // The floats between the rows are not c's: left as they were.
        EXPECT_TRUE(torch::allclose(c_store.narrow(1, n, ld - n), padding, 0.0, 0.0,
                                    /*equal_nan=*/true));
      }
    }
  }
  // An empty sum (k = 0) leaves beta c.
  auto c = torch::ones({2, 3});
  sgemm('N', 'N', 2, 3, 0, nullptr, 1, nullptr, 3, 0.5f, c.data_ptr<float>(), 3);
  EXPECT_TRUE(torch::equal(c, torch::full({2, 3}, 0.5f)));
}

}  // namespace
}  // namespace vit
