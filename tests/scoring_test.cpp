// score_shard (score/scoring): the shares of the ranks tile the split; a share's predictions and
// summed loss are those of the whole model output on its images; the model's mode is restored.
#include "score/scoring.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "test_util.h"
#include "util/error.h"

namespace vit {
namespace {

TEST(ShardBegin, SharesTileTheItems) {
  for (const int world : {1, 2, 3, 7}) {
    EXPECT_EQ(shard_begin(100, 0, world), 0);
    EXPECT_EQ(shard_begin(100, world, world), 100);
    for (int r = 0; r < world; ++r) {
      const int64_t size = shard_begin(100, r + 1, world) - shard_begin(100, r, world);
      EXPECT_TRUE(size == 100 / world || size == 100 / world + 1) << world << " " << r;
    }
  }
}

class ScoreShard : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(3);
    const auto [images, labels] = testing::synthetic_digits(37, 5);
    split_ = Split{images.unsqueeze(1), labels.to(torch::kLong)};  // uint8, as stored
    model_ = VisionTransformer(ModelConfig{}, ImageShape{1, 28, 28}, kNumClasses);
  }
  Split split_;
  VisionTransformer model_{nullptr};
};

TEST_F(ScoreShard, EqualsTheModelOnTheShareInEveryBatching) {
  torch::NoGradGuard no_grad;
  model_->eval();
  const auto logits = model_->forward(to_float_images(split_.images));
  model_->train();
  for (const int world : {1, 3}) {
    for (const int64_t batch : {1, 5, 100}) {
      for (int r = 0; r < world; ++r) {
        const ShardScore score = score_shard(model_, split_, batch, r, world);
        const int64_t begin = shard_begin(37, r, world), size = shard_begin(37, r + 1, world) - begin;
        EXPECT_EQ(score.begin, begin);
        ASSERT_EQ(score.predicted.size(0), size);
        const auto mine = logits.narrow(0, begin, size);
        EXPECT_TRUE(torch::equal(score.predicted, mine.argmax(1)));
        const double loss = torch::nn::functional::cross_entropy(
                                mine, split_.labels.narrow(0, begin, size),
                                torch::nn::functional::CrossEntropyFuncOptions().reduction(
                                    torch::kSum))
                                .item<double>();
        EXPECT_NEAR(score.loss_sum.item<double>(), loss, 1e-4 * loss);
        EXPECT_EQ(score.loss_sum.scalar_type(), torch::kFloat64);
      }
    }
  }
  EXPECT_TRUE(model_->is_training()) << "training mode not restored";
  model_->eval();
  score_shard(model_, split_, 8, 0, 1);
  EXPECT_FALSE(model_->is_training()) << "eval mode not restored";
  EXPECT_THROW(score_shard(model_, split_, 0, 0, 1), Error);
}

}  // namespace
}  // namespace vit
