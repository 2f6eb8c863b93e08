#include "train/monitor.h"

#include <cmath>

#include <spdlog/fmt/fmt.h>


namespace vit {

Monitor::Monitor(const TrainConfig& config)
    : metric_(to_string(resolved_monitor(config))),
      higher_is_better_(resolved_monitor(config) == MonitorMetric::kValAcc ||
                        resolved_monitor(config) == MonitorMetric::kTestAcc),
      patience_(config.train.early_stop) {}

double Monitor::value_of(const EpochResult& result) const {
  if (metric_ == "val_acc") return result.val.accuracy();
  if (metric_ == "val_loss") return result.val.loss();
  if (metric_ == "test_acc") return result.test.accuracy();
  if (metric_ == "test_loss") return result.test.loss();
  return result.train_loss;
}

bool Monitor::improves(double value, const BestEpoch& best) const {
  if (std::isnan(value)) return false;
  if (best.epoch == 0 || best.metric != metric_) return true;
  return higher_is_better_ ? value > best.value : value < best.value;
}

bool Monitor::update(const EpochResult& result, BestEpoch& best) const {
  const double value = value_of(result);
  if (!improves(value, best)) return false;
  best = {metric_, value, result.epoch};
  return true;
}

bool Monitor::patience_spent(int64_t epochs_done, const BestEpoch& best) const {
  return patience_ > 0 && best.epoch > 0 && best.metric == metric_ &&
         epochs_done - best.epoch >= patience_;
}

std::string Monitor::why_stopped(int64_t epochs_done, const BestEpoch& best) const {
  return fmt::format("{} has not improved on {:.4g} (epoch {}) for {} epoch{} (train.early_stop {})",
                     metric_, best.value, best.epoch, epochs_done - best.epoch,
                     epochs_done - best.epoch == 1 ? "" : "s", patience_);
}

}  // namespace vit
