// Monitor: the epoch metric train.monitor names, followed from epoch to epoch. It says whether an
// epoch beat the best so far (checkpoint.keep_best then keeps its model as best.pt) and whether
// train.early_stop's patience is spent (so many epochs without a better value). Accuracies count
// as better when higher, losses when lower. The best so far travels in the checkpoint, so a
// resumed run keeps following it.
#pragma once

#include <cstdint>
#include <string>

#include "config/train_config.h"
#include "store/checkpoint.h"  // BestEpoch
#include "train/run_log.h"     // EpochResult

namespace vit {

class Monitor {
 public:
  // `config`'s train.monitor (auto resolved as validate() does) and train.early_stop.
  explicit Monitor(const TrainConfig& config);

  // "val_acc", ...
  const std::string& metric() const { return metric_; }
  // The monitored metric of an epoch's result.
  double value_of(const EpochResult& result) const;
  // Whether `value` after epoch `epoch` beats `best`: the first value always does (and a best of
  // another metric, from a run resumed with train.monitor changed), NaN never does.
  bool improves(double value, const BestEpoch& best) const;
  // Records epoch `result` in `best` when it improves on it; returns whether it did.
  bool update(const EpochResult& result, BestEpoch& best) const;
  // Whether train.early_stop's patience is spent after `epochs_done` complete epochs: that many
  // epochs or more since the best one (never with train.early_stop 0 or before a best exists).
  bool patience_spent(int64_t epochs_done, const BestEpoch& best) const;
  // "val_acc has not improved on 0.9812 (epoch 4) for 3 epochs": why patience_spent is true.
  std::string why_stopped(int64_t epochs_done, const BestEpoch& best) const;

 private:
  std::string metric_;
  bool higher_is_better_;
  int64_t patience_;
};

}  // namespace vit
