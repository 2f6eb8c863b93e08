// FlatGradients: gradients are views into one buffer and stay there through backward passes;
// flatten/unflatten round-trip a module's state.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "train/flat_gradients.h"

namespace vit {
namespace {

TEST(FlatGradients, BackwardAccumulatesIntoTheBuffer) {
  torch::nn::Linear layer(3, 2);
  FlatGradients grads(layer->parameters());
  EXPECT_EQ(grads.buffer().numel(), 3 * 2 + 2 + 1);  // and the loss slot
  EXPECT_EQ(grads.gradients().numel(), 3 * 2 + 2);
  grads.loss_slot().fill_(7.0f);
  EXPECT_EQ(grads.buffer()[8].item<float>(), 7.0f);
  EXPECT_EQ(layer->bias.grad().sum().item<float>(), 0.0f);  // not a gradient
  EXPECT_TRUE(grads.intact());
  const auto x = torch::ones({4, 3});
  layer->forward(x).sum().backward();
  EXPECT_TRUE(grads.intact());
  // d(sum)/d(bias) = 4 per output; bias follows the weight in the buffer.
  EXPECT_TRUE(torch::equal(grads.buffer().narrow(0, 6, 2), torch::full({2}, 4.0f)));
  layer->forward(x).sum().backward();  // accumulates in place
  EXPECT_TRUE(torch::equal(layer->bias.grad(), torch::full({2}, 8.0f)));
  grads.zero();
  EXPECT_EQ(layer->weight.grad().abs().sum().item<float>(), 0.0f);
  // Changing the buffer changes the gradients the optimizer will read.
  grads.buffer().fill_(0.5f);
  EXPECT_TRUE(torch::equal(layer->weight.grad(), torch::full({2, 3}, 0.5f)));
}

}  // namespace
}  // namespace vit
