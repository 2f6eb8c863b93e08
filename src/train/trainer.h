// Trainer: the training loop of one rank of a data-parallel job. Each rank holds a replica of the
// model and trains on its shard of every epoch's permutation; after each step's backward pass the
// gradients (one flat buffer) are averaged over the ranks with a single all-reduce, so all
// replicas take the same optimizer step. Evaluation splits the test set over the ranks and gathers
// the predictions (score/evaluation.h, vit-eval's too), so the reported accuracy equals a one-rank
// evaluation.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config/train_config.h"
#include "data/dataset.h"
#include "data/sampler.h"
#include "parallel/communicator.h"
#include "parallel/watchdog.h"
#include "model/vit.h"
#include "score/evaluation.h"
#include "store/checkpoint.h"
#include "store/checkpoint_dir.h"
#include "train/flat_gradients.h"
#include "train/metrics.h"
#include "train/monitor.h"
#include "train/run_log.h"  // EpochResult
#include "train/step.h"

namespace vit {


struct FitResult {
  std::vector<EpochResult> epochs;  // the epochs finished in this session
  bool stopped = false;             // ended early by a stop signal ...
  bool checkpointed = false;        // ... after writing a checkpoint (not before the first step)
  int stop_signal = 0;              // that signal's number (the largest any rank received)
  bool early_stopped = false;       // ended by train.early_stop (now, or in the run resumed)
};

class Trainer {
 public:
  // Builds the model from config.model (seeded by train.seed) for the data's image shape on
  // `device`, and makes every replica equal to rank 0's. `comm` must outlive the trainer.
  Trainer(const TrainConfig& config, Dataset data, Communicator& comm, torch::Device device);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Continues from a checkpoint according to `mode` (config.resume): "none" starts fresh, "auto"
  // takes the newest readable complete checkpoint (falling back past damaged ones, with a
  // warning) or starts fresh, anything else is the path of a checkpoint. Returns the file used
  // ("" for a fresh start). Every rank reads the same file.
  std::string resume(const std::string& mode, const CheckpointDir& checkpoints);

  // Trains until train.epochs are done (or train.max_steps, or train.early_stop's patience),
  // evaluating after each epoch. Writes epoch lines to `metrics`, checkpoints to `checkpoints` and
  // the best epoch's model (checkpoint.keep_best) to `best_model` when they are not null or empty
  // (rank 0 passes them). Stops early, after a checkpoint, when a stop signal reached any rank.
  FitResult fit(MetricsWriter* metrics, const CheckpointDir* checkpoints = nullptr,
                const std::string& best_model = "");

  // Writes a checkpoint of the current state (rank 0, into `checkpoints`) while the others wait;
  // collective. `local_loss` and `local_images`: this rank's part of the epoch so far.
  void save(const CheckpointDir* checkpoints, double local_loss, int64_t local_images);

  // One optimizer step over the micro-batches of `indices` (this rank's samples of the step, at
  // most samples_per_step(train)) at learning rate `lr`: the step engine's (train/step.h) run,
  // counted in the state. Returns the summed loss of the samples (0-dim tensor, not synced).
  torch::Tensor train_step(const torch::Tensor& indices, double lr);
  // The same at the learning rate of the last step (optim.lr, scaled, before the first).
  torch::Tensor train_step(const torch::Tensor& indices) {
    return train_step(indices, engine_->learning_rate());
  }

  // Whether full steps run as a CUDA graph (train.cuda_graph; decided at construction).
  bool uses_cuda_graph() const { return engine_->uses_cuda_graph(); }
  // Whether a step was captured as a graph (and later steps replay it).
  bool graph_captured() const { return engine_->graph_captured(); }
  // Why a step cannot be a CUDA graph on this rank ("" when it can).
  std::string graph_obstacle() const { return engine_->graph_obstacle(); }

  // Scores `split` with every rank taking a contiguous share (score/evaluation.h's
  // evaluate_model, as vit-eval does); collective.
  Evaluation evaluate(const Split& split);

  VisionTransformer& model() { return model_; }
  const Dataset& data() const { return data_; }
  int64_t step() const { return state_.step; }
  const TrainState& state() const { return state_; }
  int64_t steps_per_epoch() const;
  torch::Device device() const { return device_; }
  const FlatGradients& gradients() const { return engine_->gradients(); }
  const Monitor& monitor() const { return monitor_; }

 private:
  const TrainConfig& config_;
  Communicator& comm_;
  torch::Device device_;
  OptimConfig optim_;  // config.optim with the learning rate scaled for the world size
  Dataset data_;
  VisionTransformer model_{nullptr};
  std::unique_ptr<TrainStep> engine_;  // the step itself: gradients, optimizer, graph, precision
  DistributedSampler sampler_;
  Monitor monitor_;  // train.monitor: the best epoch, early stopping
  TrainState state_;
  double trained_s_ = 0;  // seconds this process trained in finished epochs (evaluations excluded)

  std::unique_ptr<Watchdog> stall_dog_;  // bounds each step and evaluation

  struct EpochRun;  // one epoch as it runs (its order, counts, progress bar)

  // Steps of this rank's samples from global `position` to the end of the epoch.
  int64_t steps_from(int64_t position) const;
  // Steps of the whole run (train.epochs, train.max_steps) as this world size sees it.
  int64_t planned_steps() const;
  std::unique_ptr<EpochRun> start_epoch();
  // Global images per second of the epoch so far (this session's part).
  double images_per_s(const EpochRun& run) const;
  // Seconds of `run` so far, less its evaluations.
  double training_s(const EpochRun& run) const;
  // train.eval_every_steps: the test set scored within the epoch, its line, the time left out of
  // the epoch's training time. Collective.
  void evaluate_within_epoch(EpochRun& run, RunLog& log);
  // The figures of the step line of step b of `run`, to `log`. Collective.
  void log_step(RunLog& log, EpochRun& run, int64_t b, const torch::Tensor& step_loss,
                int64_t count, double lr);
  // The stop signal that reached a rank (the largest number when several did), or 0. Collective.
  int stop_requested();
  // Loss over the ranks, evaluation, the replica check (dist.debug), the epoch's log and metrics
  // lines and its checkpoint; `complete`: the epoch ran to its end. Collective.
  EpochResult finish_epoch(EpochRun& run, bool complete, int64_t total_steps, RunLog& log,
                           const CheckpointDir* checkpoints, const std::string& best_model);
  // dist.debug: the gradients still in the flat buffer, every rank's parameters equal. Collective.
  void check_replicas_now(int64_t epoch);
};

}  // namespace vit
