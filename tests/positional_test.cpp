// The sine/cosine position embedding, the tutorial's step 3, against its formula.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "model/positional.h"

namespace vit {
namespace {

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

}  // namespace
}  // namespace vit
