// Optimizer factory and learning-rate schedule.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "train/optimizer.h"

namespace vit {
namespace {

TEST(LearningRate, ConstantWithWarmup) {
  OptimConfig c;
  c.lr = 0.1;
  c.warmup_steps = 4;
  EXPECT_DOUBLE_EQ(learning_rate(c, 0, 100), 0.025);
  EXPECT_DOUBLE_EQ(learning_rate(c, 3, 100), 0.1);
  EXPECT_DOUBLE_EQ(learning_rate(c, 50, 100), 0.1);
}

TEST(LearningRate, CosineDecaysToTheFloor) {
  OptimConfig c;
  c.lr = 1.0;
  c.schedule = LrSchedule::kCosine;
  c.warmup_steps = 10;
  c.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(learning_rate(c, 10, 110), 1.0);               // start of decay
  EXPECT_NEAR(learning_rate(c, 60, 110), 0.55, 1e-12);           // half way: mean of 1 and 0.1
  EXPECT_NEAR(learning_rate(c, 110, 110), 0.1, 1e-12);           // end
  EXPECT_LT(learning_rate(c, 80, 110), learning_rate(c, 70, 110));  // monotone
}

TEST(Optimizer, FactoryMakesEachKindAndSetsTheLearningRate) {
  for (const std::string name : {"adam", "adamw", "sgd"}) {
    OptimConfig c;
    c.name = *parse_choice<OptimName>(name);
    auto w = torch::ones({3}, torch::requires_grad());
    auto optimizer = make_optimizer(c, {w});
    w.sum().backward();
    optimizer->step();
    EXPECT_LT(w[0].item<float>(), 1.0f) << name << " did not step downhill";
    set_learning_rate(*optimizer, 0.5);
    EXPECT_DOUBLE_EQ(optimizer->param_groups()[0].options().get_lr(), 0.5) << name;
  }
}

}  // namespace
}  // namespace vit
