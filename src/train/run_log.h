// RunLog: what a run tells while it trains, and when. It owns the cadences: a step line goes to
// metrics.jsonl every log.every_steps steps (step_line_interval) and to the console at most every
// log.console_every_s; the throughput window between two step lines; the epoch line (console and
// metrics.jsonl). The trainer computes the figures (collectives, the step engine's clocks) and
// asks it when: every rank keeps a RunLog, rank 0's writes metrics.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "config/train_config.h"
#include "score/evaluation.h"
#include "train/metrics.h"

namespace vit {

struct EpochResult {
  int64_t epoch = 0;        // 1-based
  int64_t step = 0;         // optimizer steps done so far
  double train_loss = 0;    // mean over the epoch's training images, all ranks
  Evaluation test;          // the test split scored after the epoch
  Evaluation val;           // the validation split (data.val_split) scored; count 0 without one
  double images_per_s = 0;  // training images of all ranks per second of training
  double epoch_s = 0;       // training only
  double allreduce_s = 0;   // part of epoch_s spent in the gradient all-reduce (this rank)
  int64_t peak_memory_bytes = 0;  // this rank's so far (train/peak_memory.h)
};

// Images and all-reduce time since the last step line: what a step line reports.
class ThroughputWindow {
 public:
  // Opens at optimizer step `step`, with `allreduce_s` seconds of all-reduce so far.
  ThroughputWindow(int64_t step, double allreduce_s)
      : first_step_(step), allreduce_s_(allreduce_s) {}
  void add(int64_t images) { images_ += images; }
  struct Figures {
    double images_per_s;  // of all ranks
    double step_s;        // per step
    double allreduce_s;   // per step
  };
  // The figures of the steps since the window opened (`world` ranks, each with as many images as
  // this one); then it opens anew at `step`.
  Figures close(int64_t step, double allreduce_s, int world);

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_ = Clock::now();
  int64_t first_step_;
  double allreduce_s_;
  int64_t images_ = 0;
};

class RunLog {
 public:
  // `metrics`: null on ranks other than 0 (and in tests that want no file); must outlive this.
  // `train_flops`: the model's training FLOPs per image (model/model_cost.h), for GFLOP/s.
  RunLog(const TrainConfig& config, int world_size, int64_t steps_per_epoch,
         MetricsWriter* metrics, double train_flops = 0);

  // An epoch (or its rest, after a resume) starts at optimizer step `step`: the window opens.
  void start_epoch(int64_t step, double allreduce_s);
  // `images` of this rank were trained in the step just taken.
  void count(int64_t images) { window_.add(images); }

  // Whether optimizer step `step` gets a step line. The same on every rank, so the collectives
  // that compute its figures run on all of them.
  bool step_line_due(int64_t step) const {
    return step_line_every_ > 0 && step % step_line_every_ == 0;
  }
  // The step line of `step` (epoch 0-based; `position`: the progress text, e.g. "12/469"; `loss`:
  // over all ranks; `allreduce_s`: the step engine's total so far): closes the window, to the
  // console when log.console_every_s has passed since the last one (the first always), to
  // metrics.jsonl always.
  // `steps_left`: of the whole run, for its ETA at this window's pace (negative: none shown).
  void step_line(int64_t epoch, int64_t step, const std::string& position, double loss, double lr,
                 double allreduce_s, int64_t steps_left = -1);

  // Whether the test set is scored after optimizer step `step` within an epoch
  // (train.eval_every_steps; not on an epoch's last step, which the epoch line scores). The same
  // on every rank: the evaluation is collective.
  bool eval_line_due(int64_t step, bool epoch_ends) const {
    const int64_t every = config_.train.eval_every_steps;
    return every > 0 && step % every == 0 && !epoch_ends;
  }
  // The line of such an evaluation (epoch 0-based; `train_s`: seconds trained so far), to the
  // console and metrics.jsonl.
  void eval_line(int64_t epoch, int64_t step, const Evaluation& test, double train_s);

  // The epoch's line, to the console and metrics.jsonl (`lr`: the last step's), after its "val"
  // line when the run has a validation split.
  void epoch_line(const EpochResult& result, double lr);

 private:
  using Clock = std::chrono::steady_clock;
  const TrainConfig& config_;
  int world_size_;
  int64_t step_line_every_;
  MetricsWriter* metrics_;
  double train_flops_;
  ThroughputWindow window_{0, 0.0};
  Clock::time_point last_console_line_ = Clock::now() - std::chrono::hours(1);
};

}  // namespace vit
