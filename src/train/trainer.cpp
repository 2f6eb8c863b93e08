#include "train/trainer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <limits>

#include "model/model_cost.h"
#include "parallel/replicas.h"
#include "train/optimizer.h"
#include "train/optimizer_state.h"  // checkpoints with the optimizer's state
#include "train/peak_memory.h"
#include "train/progress.h"
#include "util/signals.h"
#include "util/error.h"
#include "util/fault_injection.h"

namespace vit {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

ImageShape image_shape(const Split& split) {
  return {split.images.size(1), split.images.size(2), split.images.size(3)};
}

VisionTransformer build_model(const TrainConfig& config, const Dataset& data,
                              torch::Device device) {
  // Seeded here so that the initial parameters depend on train.seed alone; rank 0's are then
  // broadcast, so other ranks' draws do not matter.
  torch::manual_seed(static_cast<uint64_t>(config.train.seed));
  VisionTransformer model = make_model(config, image_shape(data.train), kNumClasses);
  model->to(device);
  return model;
}

OptimConfig scaled(const OptimConfig& optim, int world_size) {
  OptimConfig out = optim;
  if (optim.lr_scaling == LrScaling::kLinear) out.lr *= world_size;
  return out;
}

Split to_device(const Split& split, torch::Device device) {
  return {split.images.to(device), split.labels.to(device)};
}

// A test build makes one rank's replica drift (util/fault_injection.h) to see dist.debug stop the job.
void drift_for_tests(VisionTransformer& model, int rank) {
  if (injected_faults().drift_rank != rank) return;
  torch::NoGradGuard no_grad;
  model->parameters()[0].view(-1)[0] += 1e-6f;
}

// A test build records which samples each step trained (util/fault_injection.h): one line per
// step, "epoch step world_size rank index...", appended to PREFIX.RANK.
void trace_samples_for_tests(const torch::Tensor& indices, int64_t epoch, int64_t step,
                             int world_size, int rank) {
  const std::string& prefix = injected_faults().sample_trace;
  if (prefix.empty()) return;
  std::ofstream out(prefix + "." + std::to_string(rank), std::ios::app);
  out << epoch << ' ' << step << ' ' << world_size << ' ' << rank;
  const torch::Tensor cpu = indices.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t* index = cpu.data_ptr<int64_t>();
  for (int64_t i = 0; i < cpu.numel(); ++i) out << ' ' << index[i];
  out << '\n';
}

}  // namespace

Trainer::Trainer(const TrainConfig& config, Dataset data, Communicator& comm, torch::Device device)
    : config_(config),
      comm_(comm),
      device_(device),
      optim_(scaled(config.optim, comm.world_size())),
      data_{to_device(data.train, device), to_device(data.test, device), data.source,
            data.val.empty() ? Split{} : to_device(data.val, device)},
      model_(build_model(config, data_, device)),
      sampler_(data_.train.size(), comm.rank(), comm.world_size(), config.train.seed),
      monitor_(config) {
  state_.world_size = comm.world_size();
  // A process short of memory can stall in a step for good, deaf to stop signals (OpenBLAS spins
  // when it cannot map a thread's buffers): steps and evaluations are bounded, at twice
  // dist.timeout_s so that a stuck collective inside one is named by its own watchdog first.
  stall_dog_ = std::make_unique<Watchdog>(
      2 * config.dist.timeout_s, comm.rank(), Watchdog::Diagnose{},
      "this rank computes alone here, waiting for no other (2 x dist.timeout_s); a resource limit "
      "(ulimit -v, ulimit -u) or an overloaded machine can stall it");
  // The step computes in float: validate() checked optim.lr as one, optim.lr_scaling may take it
  // beyond (an infinite learning rate makes every parameter NaN in one step).
  VIT_CHECK(optim_.lr <= std::numeric_limits<float>::max(), "optim.lr: ", config.optim.lr,
            " times the world size ", comm.world_size(),
            " (optim.lr_scaling linear) does not fit the float the step computes with");
  broadcast_module(*model_, comm_);
  engine_ = std::make_unique<TrainStep>(config, optim_, model_, data_.train, comm_, device_);
}

Trainer::~Trainer() = default;

int64_t Trainer::steps_per_epoch() const {
  const int64_t per_step = samples_per_step(config_.train);
  return (sampler_.per_rank() + per_step - 1) / per_step;
}

torch::Tensor Trainer::train_step(const torch::Tensor& indices, double lr) {
  torch::Tensor loss_sum = engine_->run(indices, lr);
  ++state_.step;
  return loss_sum;
}

Evaluation Trainer::evaluate(const Split& split) {
  return evaluate_model(model_, split, config_.train.eval_batch_size, comm_);
}

std::string Trainer::resume(const std::string& mode, const CheckpointDir& checkpoints) {
  if (mode == "none") return "";  // check_train_inputs made sure no earlier run is in the way
  std::vector<std::string> candidates;
  if (mode == "auto") {
    candidates = checkpoints.candidates();
  } else {
    candidates = {mode};
  }
  for (const auto& path : candidates) {
    try {
      state_ = read_checkpoint(path, model_, engine_->optimizer(), config_);
    } catch (const CorruptCheckpoint& e) {
      if (mode != "auto") throw;
      if (comm_.rank() == 0) {  // every rank reads the same files: said once
        spdlog::warn("resume: {}; falling back to the previous checkpoint", e.what());
      }
      continue;
    }
    if (comm_.rank() == 0) {  // said once, so read once
      const std::string changed = changed_keys(read_stored_run(path).config, config_);
      if (!changed.empty()) spdlog::info("resume: changed since {} was written: {}", path, changed);
    }
    if (state_.best.epoch > 0 && state_.best.metric != monitor_.metric()) {
      if (comm_.rank() == 0) {
        spdlog::info("resume: train.monitor is {} now, the checkpoint followed {}: the best "
                     "epoch is followed anew from here",
                     monitor_.metric(), state_.best.metric);
      }
      state_.best = {};
    }
    if (state_.world_size != comm_.world_size() && comm_.rank() == 0) {
      spdlog::warn("resume: {} was written by {} rank(s), this job has {}: training continues "
                   "from the same sample position with the shards recomputed",
                   path, state_.world_size, comm_.world_size());
    }
    state_.world_size = comm_.world_size();
    engine_->restart_at(state_.step);
    return path;
  }
  VIT_CHECK(candidates.empty(), "resume: no readable checkpoint in ", checkpoints.dir());
  return "";
}

void Trainer::save(const CheckpointDir* checkpoints, double local_loss, int64_t local_images) {
  engine_->settle();            // never a checkpoint of a diverged run
  engine_->check_parameters();  // nor of a diverged update: no file written or pruned
  TrainState state = state_;
  state.epoch_loss_sum = comm_.sum(local_loss);
  state.epoch_images = comm_.sum(local_images);
  if (checkpoints != nullptr) {
    const auto start = Clock::now();
    write_checkpoint(checkpoints->path_for(state.step), model_, engine_->optimizer(), state,
                     config_);
    checkpoints->commit(state.step, config_.checkpoint.keep_last, config_.checkpoint.keep_every);
    // At debug level: one every epoch would crowd the epoch lines (log.level debug shows them).
    spdlog::debug("checkpoint {} written in {:.3f} s", checkpoints->path_for(state.step),
                  seconds_since(start));
  }
  comm_.barrier();  // the other ranks wait only as long as the write lasts
}

// One epoch (or the rest of one, after a resume) as it runs.
struct Trainer::EpochRun {
  int64_t epoch;        // 0-based
  torch::Tensor order;  // this rank's samples of what is left of the epoch, in training order
  int64_t steps;        // steps left in the epoch
  int64_t done_before;  // steps of the epoch done before this session (a run resumed mid-epoch)
  Clock::time_point start = Clock::now();
  // This rank's share of the epoch's loss and images; rank 0 carries what a checkpoint of a
  // partly done epoch recorded for all ranks.
  torch::Tensor loss_sum;
  int64_t images;
  int64_t session_images = 0;  // images of this session only (images/s)
  double allreduce_before;     // the step engine's all-reduce seconds when the epoch started
  EpochProgress progress;
  double paused_s = 0;  // in evaluations within the epoch: not training time
};

int64_t Trainer::steps_from(int64_t position) const {
  const int64_t per_step = samples_per_step(config_.train);
  return (sampler_.remaining_per_rank(position) + per_step - 1) / per_step;
}

int64_t Trainer::planned_steps() const {
  // As this world size sees it: a run resumed on another number of ranks recomputes it, so the
  // schedule ends where the data ends.
  const TrainLoopConfig& train = config_.train;
  int64_t total = state_.step;
  if (state_.epoch < train.epochs) {
    total += steps_from(state_.epoch_position) +
             steps_per_epoch() * (train.epochs - state_.epoch - 1);
  }
  return train.max_steps > 0 ? std::min(total, train.max_steps) : total;
}

FitResult Trainer::fit(MetricsWriter* metrics, const CheckpointDir* checkpoints,
                       const std::string& best_model) {
  const int64_t total_steps = planned_steps();
  const int64_t per_step = samples_per_step(config_.train);
  RunLog log(config_, comm_.world_size(), steps_per_epoch(), metrics,
             model_cost(config_.model, model_->image(), kNumClasses).train_flops);
  FitResult fit;
  // A stop signal during start-up (data, resume): nothing was trained, so nothing is written.
  if ((fit.stop_signal = stop_requested()) != 0) {
    fit.stopped = true;
    return fit;
  }
  // A run that train.early_stop ended, resumed with the same patience: nothing left to train.
  if (state_.epoch < config_.train.epochs && state_.epoch_position == 0 &&
      monitor_.patience_spent(state_.epoch, state_.best)) {
    if (comm_.rank() == 0) {
      spdlog::info("early stop: the run stopped after epoch {}: {}", state_.epoch,
                   monitor_.why_stopped(state_.epoch, state_.best));
    }
    fit.early_stopped = true;
    return fit;
  }
  model_->train();
  while (state_.epoch < config_.train.epochs && state_.step < total_steps) {
    auto run = start_epoch();
    log.start_epoch(state_.step, engine_->allreduce_s());
    bool stop = false;
    int64_t b = 0;
    for (; b < run->steps && state_.step < total_steps && !stop; ++b) {
      const int64_t count = std::min(per_step, run->order.size(0) - b * per_step);
      const double lr = learning_rate(optim_, state_.step, total_steps);
      const auto step_loss = [&] {
        const auto armed = stall_dog_->arm("a training step");
        return train_step(run->order.narrow(/*dim=*/0, b * per_step, count), lr);
      }();
      trace_samples_for_tests(run->order.narrow(/*dim=*/0, b * per_step, count), run->epoch + 1,
                              state_.step, comm_.world_size(), comm_.rank());
      run->loss_sum += step_loss;
      run->images += count;
      run->session_images += count;
      log.count(count);
      state_.epoch_position += count * comm_.world_size();
      if (log.step_line_due(state_.step)) log_step(log, *run, b, step_loss, count, lr);
      if (log.eval_line_due(state_.step, b + 1 == run->steps)) evaluate_within_epoch(*run, log);
      run->progress.update(run->done_before + b + 1, images_per_s(*run),
                           [&] { return step_loss.item<double>() / static_cast<double>(count); });
      fit.stop_signal = stop_requested();
      stop = fit.stop_signal != 0;
      if (stop || periodic_checkpoint_due(config_.checkpoint.every_steps, state_.step,
                                          b + 1 == run->steps)) {
        save(checkpoints, run->loss_sum.item<double>(), run->images);
      }
    }
    if (stop) {
      fit.stopped = fit.checkpointed = true;
      return fit;
    }
    fit.epochs.push_back(
        finish_epoch(*run, b == run->steps, total_steps, log, checkpoints, best_model));
    if (state_.epoch < config_.train.epochs &&
        monitor_.patience_spent(state_.epoch, state_.best)) {
      if (comm_.rank() == 0) {
        spdlog::info("early stop after epoch {}/{}: {}", state_.epoch, config_.train.epochs,
                     monitor_.why_stopped(state_.epoch, state_.best));
      }
      fit.early_stopped = true;
      break;
    }
  }
  return fit;
}

std::unique_ptr<Trainer::EpochRun> Trainer::start_epoch() {
  const bool carries = comm_.rank() == 0;
  const int64_t steps = steps_from(state_.epoch_position);
  const int64_t done_before = steps_per_epoch() - steps;
  const ProgressMode mode =
      comm_.rank() == 0 ? progress_mode(config_.log.progress) : ProgressMode::kLines;
  const double allreduce_s = engine_->allreduce_s();
  return std::unique_ptr<EpochRun>(new EpochRun{
      state_.epoch,
      sampler_.indices(state_.epoch, state_.epoch_position).to(device_),
      steps,
      done_before,
      Clock::now(),
      torch::full({}, carries ? state_.epoch_loss_sum : 0.0,
                  torch::TensorOptions().dtype(torch::kFloat64).device(device_)),
      carries ? state_.epoch_images : 0,
      0,
      allreduce_s,
      EpochProgress(mode, state_.epoch + 1, config_.train.epochs, steps_per_epoch(), done_before)});
}

double Trainer::images_per_s(const EpochRun& run) const {
  return static_cast<double>(run.session_images * comm_.world_size()) / training_s(run);
}

double Trainer::training_s(const EpochRun& run) const {
  return seconds_since(run.start) - run.paused_s;
}

void Trainer::evaluate_within_epoch(EpochRun& run, RunLog& log) {
  engine_->settle();  // the steps queued so far are training time
  const double train_s = trained_s_ + training_s(run);
  const auto start = Clock::now();
  Evaluation test;
  {
    const auto armed = stall_dog_->arm("the evaluation");
    test = evaluate(data_.test);
  }
  run.paused_s += seconds_since(start);
  log.eval_line(run.epoch, state_.step, test, train_s);
  log.start_epoch(state_.step, engine_->allreduce_s());  // the next step line's window
}

void Trainer::log_step(RunLog& log, EpochRun& run, int64_t b, const torch::Tensor& step_loss,
                       int64_t count, double lr) {
  engine_->settle();
  // Collective (the condition is the same on every rank): the loss of the step over all ranks.
  const double loss =
      comm_.sum(step_loss.item<double>()) / static_cast<double>(count * comm_.world_size());
  log.step_line(run.epoch, state_.step, run.progress.position(run.done_before + b + 1), loss, lr,
                engine_->allreduce_s(), planned_steps() - state_.step);
}

int Trainer::stop_requested() {
  // All ranks learn of a signal that reached any of them at the same step.
  return static_cast<int>(comm_.max(int64_t{StopSignals::received()}));
}

EpochResult Trainer::finish_epoch(EpochRun& run, bool complete, int64_t total_steps, RunLog& log,
                                  const CheckpointDir* checkpoints,
                                  const std::string& best_model) {
  // The queued steps end before the epoch's clock stops, and a diverged epoch ends here, before
  // its line is written (the parameters too, as after a diverged step).
  engine_->settle();
  engine_->check_parameters();
  EpochResult result;
  result.epoch = run.epoch + 1;
  result.step = state_.step;
  result.epoch_s = training_s(run);
  trained_s_ += result.epoch_s;
  result.allreduce_s = engine_->allreduce_s() - run.allreduce_before;
  const int64_t all_images = comm_.sum(run.images);
  result.images_per_s = static_cast<double>(comm_.sum(run.session_images)) / result.epoch_s;
  result.train_loss = comm_.sum(run.loss_sum.item<double>()) / static_cast<double>(all_images);
  {
    const auto armed = stall_dog_->arm("the evaluation");
    result.test = evaluate(data_.test);
    if (!data_.val.empty()) result.val = evaluate(data_.val);
  }
  if (config_.dist.debug) check_replicas_now(result.epoch);
  result.peak_memory_bytes = peak_memory_bytes(device_);
  log.epoch_line(result, learning_rate(optim_, state_.step - 1, total_steps));
  // Every rank follows the best (it is in the state a checkpoint holds); rank 0 writes its model.
  if (monitor_.update(result, state_.best) && config_.checkpoint.keep_best &&
      !best_model.empty()) {
    write_model_file(best_model, model_, config_);
    spdlog::debug("{} written: epoch {}, {} {:.4f}", best_model, result.epoch, monitor_.metric(),
                  state_.best.value);
  }
  if (complete) {  // (train.max_steps may end an epoch early)
    state_.epoch = run.epoch + 1;
    state_.epoch_position = 0;
    state_.epoch_loss_sum = 0;
    state_.epoch_images = 0;
    save(checkpoints, 0.0, 0);
  } else {
    save(checkpoints, run.loss_sum.item<double>(), run.images);
  }
  return result;
}

void Trainer::check_replicas_now(int64_t epoch) {
  VIT_CHECK(engine_->gradients().intact(), "rank ", comm_.rank(),
            ": a gradient no longer lives in the flat buffer");
  drift_for_tests(model_, comm_.rank());
  check_replicas(*model_, comm_, "after epoch " + std::to_string(epoch));
  spdlog::info("replica check after epoch {}: the parameters of all {} rank(s) are bit-identical",
               epoch, comm_.world_size());
}

}  // namespace vit
