// Trainer: the training loop of one rank. It owns the model and optimizer, runs epochs over the
// sampler's order, evaluates on the test set after each epoch and reports to metrics.jsonl.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "config/train_config.h"
#include "data/dataset.h"
#include "data/sampler.h"
#include "model/vit.h"
#include "train/metrics.h"

namespace vit {

struct EvalResult {
  double loss = 0;      // mean cross-entropy per image
  double accuracy = 0;  // 0..1
  int64_t correct = 0;
  int64_t count = 0;
};

struct EpochResult {
  int64_t epoch = 0;        // 1-based
  int64_t step = 0;         // optimizer steps done so far
  double train_loss = 0;    // mean over the epoch's training images
  EvalResult test;
  double images_per_s = 0;  // training only
  double epoch_s = 0;       // training only
};

class Trainer {
 public:
  // Builds the model from config.model (seeded by train.seed) for the data's image shape.
  Trainer(const TrainConfig& config, Dataset data);

  // Runs train.epochs epochs (fewer when train.max_steps ends it), evaluating after each one.
  // Writes epoch lines to `metrics` when it is not null.
  std::vector<EpochResult> fit(MetricsWriter* metrics);

  // One optimizer step on `batch`; returns the batch's mean loss (a 0-dim tensor, not synced).
  torch::Tensor train_step(const Batch& batch);

  EvalResult evaluate(const Split& split);

  VisionTransformer& model() { return model_; }
  const Dataset& data() const { return data_; }
  int64_t step() const { return step_; }
  int64_t steps_per_epoch() const;

 private:
  const TrainConfig& config_;
  Dataset data_;
  VisionTransformer model_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  DistributedSampler sampler_;
  int64_t step_ = 0;
};

}  // namespace vit
