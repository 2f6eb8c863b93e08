// Monitor: which epoch is best by train.monitor (higher accuracies, lower losses), when
// train.early_stop's patience is spent, and what it says then.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "train/monitor.h"

namespace vit {
namespace {

// An epoch's result whose test set scored `accuracy` of 10 images at mean loss `loss`, and whose
// validation split (when `val` is set) the same.
EpochResult result_of(int64_t epoch, double accuracy, double loss, bool val = false) {
  const auto correct = static_cast<int64_t>(std::lround(accuracy * 10));
  torch::Tensor labels = torch::zeros({10}, torch::kLong);
  torch::Tensor predicted = torch::zeros({10}, torch::kLong);
  predicted.narrow(0, 0, 10 - correct).fill_(1);
  EpochResult r;
  r.epoch = epoch;
  r.train_loss = loss * 2;
  r.test = make_evaluation(labels, predicted, loss * 10, 10);
  if (val) r.val = make_evaluation(labels, predicted, loss * 10, 10);
  return r;
}

TrainConfig config_with(MonitorMetric metric, int64_t patience, double val_split = 0) {
  TrainConfig config;
  config.train.monitor = metric;
  config.train.early_stop = patience;
  config.data.val_split = val_split;
  return config;
}

TEST(Monitor, AutoFollowsTheValidationSplitWhenThereIsOne) {
  EXPECT_EQ(Monitor(config_with(MonitorMetric::kAuto, 0)).metric(), "test_acc");
  EXPECT_EQ(Monitor(config_with(MonitorMetric::kAuto, 0, 0.1)).metric(), "val_acc");
  EXPECT_EQ(Monitor(config_with(MonitorMetric::kTrainLoss, 0, 0.1)).metric(), "train_loss");
}

TEST(Monitor, AccuraciesImproveUpwardsLossesDownwards) {
  const Monitor acc(config_with(MonitorMetric::kTestAcc, 0));
  const Monitor loss(config_with(MonitorMetric::kValLoss, 0, 0.1));
  BestEpoch best_acc, best_loss;
  EXPECT_TRUE(acc.update(result_of(1, 0.5, 1.0, true), best_acc));  // the first always
  EXPECT_TRUE(loss.update(result_of(1, 0.5, 1.0, true), best_loss));
  EXPECT_TRUE(acc.update(result_of(2, 0.7, 1.2, true), best_acc));
  EXPECT_FALSE(loss.update(result_of(2, 0.7, 1.2, true), best_loss));
  EXPECT_FALSE(acc.update(result_of(3, 0.7, 0.8, true), best_acc));  // a tie is no improvement
  EXPECT_TRUE(loss.update(result_of(3, 0.7, 0.8, true), best_loss));
  EXPECT_EQ(best_acc.epoch, 2);
  EXPECT_DOUBLE_EQ(best_acc.value, 0.7);
  EXPECT_EQ(best_acc.metric, "test_acc");
  EXPECT_EQ(best_loss.epoch, 3);
  EXPECT_DOUBLE_EQ(best_loss.value, 0.8);
  EXPECT_EQ(best_loss.metric, "val_loss");
}

TEST(Monitor, NaNNeverImprovesAndABestOfAnotherMetricIsReplaced) {
  const Monitor loss(config_with(MonitorMetric::kTrainLoss, 0));
  EXPECT_FALSE(loss.improves(std::numeric_limits<double>::quiet_NaN(), BestEpoch{}));
  const BestEpoch of_accuracy{"test_acc", 0.01, 4};  // a run resumed with train.monitor changed
  EXPECT_TRUE(loss.improves(5.0, of_accuracy));
  EXPECT_FALSE(loss.improves(5.0, BestEpoch{"train_loss", 0.01, 4}));
}

TEST(Monitor, PatienceCountsEpochsSinceTheBest) {
  const Monitor patient(config_with(MonitorMetric::kTestAcc, 2));
  const BestEpoch best{"test_acc", 0.9, 3};
  EXPECT_FALSE(patient.patience_spent(3, best));
  EXPECT_FALSE(patient.patience_spent(4, best));
  EXPECT_TRUE(patient.patience_spent(5, best));
  EXPECT_FALSE(patient.patience_spent(5, BestEpoch{}));                   // no best yet
  EXPECT_FALSE(patient.patience_spent(9, BestEpoch{"val_acc", 0.9, 3}));  // another metric's
  EXPECT_FALSE(Monitor(config_with(MonitorMetric::kTestAcc, 0)).patience_spent(99, best));
  EXPECT_EQ(patient.why_stopped(5, best),
            "test_acc has not improved on 0.9 (epoch 3) for 2 epochs (train.early_stop 2)");
}

}  // namespace
}  // namespace vit
