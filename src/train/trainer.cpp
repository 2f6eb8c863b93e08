#include "train/trainer.h"

#include <spdlog/spdlog.h>

#include <ATen/Parallel.h>

#include <chrono>
#include <cstdlib>
#include <limits>

#include "parallel/replicas.h"
#include "train/fused_optimizer.h"
#include "train/optimizer.h"
#include "train/optimizer_state.h"  // checkpoints with the optimizer's state
#include "train/progress.h"
#include "util/signals.h"
#include "util/error.h"
#include "util/uptime.h"
#ifdef VIT_WITH_CUDA
#include "train/graph_step.h"
#endif

namespace vit {
#ifndef VIT_WITH_CUDA
class GraphStep {};  // never made without CUDA; complete here so that the trainer can own one
#endif

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
  if (optim.lr_scaling == "linear") out.lr *= world_size;
  return out;
}

Split to_device(const Split& split, torch::Device device) {
  return {split.images.to(device), split.labels.to(device)};
}

// Tests make one rank's replica drift (VIT_TEST_DRIFT_RANK=R) to see dist.debug stop the job.
void drift_for_tests(VisionTransformer& model, int rank) {
  const char* victim = std::getenv("VIT_TEST_DRIFT_RANK");
  if (victim == nullptr || std::atoi(victim) != rank) return;
  torch::NoGradGuard no_grad;
  model->parameters()[0].view(-1)[0] += 1e-6f;
}

}  // namespace

Trainer::Trainer(const TrainConfig& config, Dataset data, Communicator& comm, torch::Device device)
    : config_(config),
      comm_(comm),
      device_(device),
      optim_(scaled(config.optim, comm.world_size())),
      data_{to_device(data.train, device), to_device(data.test, device), data.source},
      model_(build_model(config, data_, device)),
      sampler_(data_.train.size(), comm.rank(), comm.world_size(), config.train.seed) {
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
  params_ = model_->parameters();
  grads_ = std::make_unique<FlatGradients>(params_);
  // Batch parallelism: on a CPU the model is too small for LibTorch to keep several threads busy
  // inside each kernel (measured: 2 threads trained the seed model only 7% faster than 1), so
  // the threads take slices of the batch instead, each with single-threaded kernels.
  const bool batch_parallel = config.train.parallel == "batch" ||
                              (config.train.parallel == "auto" && device.is_cpu());
  if (batch_parallel && torch::get_num_threads() > 1) workers_ = torch::get_num_threads();
  spdlog::debug("train.parallel {}: {} thread(s) share each micro-batch", config.train.parallel,
                workers_);
  if (optim_.fused == "on") {
    auto fused = std::make_unique<FusedOptimizer>(optim_, params_, grads_->gradients());
    fused_ = fused.get();
    optimizer_ = std::move(fused);
  } else {
    optimizer_ = make_optimizer(optim_, model_->parameters());
  }
  precision_ = parse_precision(config.train.precision);
  nonfinite_ = torch::zeros({}, torch::TensorOptions().dtype(torch::kBool).device(device_));
  const std::string obstacle = graph_obstacle();
  VIT_CHECK(config.train.cuda_graph != "on" || obstacle.empty(), "rank ", comm.rank(),
            ": train.cuda_graph on: ", obstacle, " (train.cuda_graph auto steps eagerly there)");
  use_graph_ = config.train.cuda_graph != "off" && obstacle.empty();
  if (use_graph_) fused_->use_device_scalars();
  if (device_.is_cuda()) {
    spdlog::info("train.cuda_graph {}: {}", config.train.cuda_graph,
                 use_graph_ ? "full steps replay one CUDA graph"
                            : "eager steps" + (obstacle.empty() ? "" : " (" + obstacle + ")"));
  }
}

Trainer::~Trainer() = default;

std::string Trainer::graph_obstacle() const {
#ifndef VIT_WITH_CUDA
  return "this build has no CUDA";
#else
  if (!device_.is_cuda()) return "the rank trains on " + device_.str() + ", not a GPU";
  if (std::string why = comm_.capture_obstacle(); !why.empty()) return why;
  if (fused_ == nullptr)
    return "optim.fused is off (LibTorch's optimizers count steps on the host)";
  if (workers_ > 1) return "train.parallel batch splits each step over threads";
  return "";
#endif
}

int64_t Trainer::steps_per_epoch() const {
  const int64_t samples_per_step = config_.train.batch_size * config_.train.accum_steps;
  return (sampler_.per_rank() + samples_per_step - 1) / samples_per_step;
}

torch::Tensor Trainer::accumulate(const torch::Tensor& indices, double weight) {
  const int64_t count = indices.size(0);
  const int workers = static_cast<int>(std::min<int64_t>(workers_, count));
  if (workers <= 1) {
    const Batch batch = gather(data_.train, indices);
    torch::Tensor loss;
    {
      const AutocastScope autocast(device_, precision_);
      loss = torch::nn::functional::cross_entropy(model_->forward(batch.images), batch.labels);
    }
    (loss * weight).backward();
    return loss.detach().to(torch::kFloat64) * static_cast<double>(count);
  }
  // Each worker thread runs forward and backward of its slice (kernels inside a parallel region
  // run single-threaded) and returns its gradients; they are summed here in a fixed order, so
  // the result does not depend on which thread finishes first.
  std::vector<std::vector<torch::Tensor>> grads(static_cast<size_t>(workers));
  std::vector<torch::Tensor> losses(static_cast<size_t>(workers));
  at::parallel_for(0, workers, /*grain_size=*/1, [&](int64_t begin, int64_t end) {
    for (int64_t w = begin; w < end; ++w) {
      const int64_t first = count * w / workers, last = count * (w + 1) / workers;
      const Batch batch = gather(data_.train, indices.slice(/*dim=*/0, first, last));
      torch::Tensor loss;
      {
        const AutocastScope autocast(device_, precision_);  // (autocast is per thread)
        loss = torch::nn::functional::cross_entropy(model_->forward(batch.images), batch.labels);
      }
      const double share = static_cast<double>(last - first) / static_cast<double>(count);
      grads[static_cast<size_t>(w)] = torch::autograd::grad({loss * (weight * share)}, params_);
      losses[static_cast<size_t>(w)] =
          loss.detach().to(torch::kFloat64) * static_cast<double>(last - first);
    }
  });
  torch::NoGradGuard no_grad;
  auto loss_sum = losses[0];
  for (int w = 0; w < workers; ++w) {
    const auto& mine = grads[static_cast<size_t>(w)];
    for (size_t i = 0; i < params_.size(); ++i) params_[i].mutable_grad().add_(mine[i]);
    if (w > 0) loss_sum = loss_sum + losses[static_cast<size_t>(w)];
  }
  return loss_sum;
}

torch::Tensor Trainer::compute_gradients(const torch::Tensor& indices) {
  const int64_t total = indices.size(0);
  auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  grads_->zero();
  for (int64_t first = 0; first < total; first += config_.train.batch_size) {
    const int64_t count = std::min(config_.train.batch_size, total - first);
    // Weighted by the micro-batch's share, so the step's gradient is the mean over all of the
    // step's samples, however they are split into micro-batches.
    loss_sum += accumulate(indices.narrow(/*dim=*/0, first, count),
                           static_cast<double>(count) / static_cast<double>(total));
  }
  // The step's mean loss rides in the gradient buffer's last element.
  grads_->loss_slot().copy_(loss_sum / static_cast<double>(total));
  return loss_sum;
}

torch::Tensor Trainer::train_step(const torch::Tensor& indices) {
  const int64_t full = config_.train.batch_size * config_.train.accum_steps;
  // (an epoch's last, shorter step runs eagerly: a graph has fixed shapes)
  return use_graph_ && indices.size(0) == full ? graph_step(indices) : eager_step(indices);
}

torch::Tensor Trainer::eager_step(const torch::Tensor& indices) {
  const torch::Tensor loss_sum = compute_gradients(indices);
  const double exchanged_s = comm_.all_reduce_seconds();
  comm_.all_reduce_mean(grads_->buffer());  // the one collective of the step
  // Waits for it with dist.timeout_s (NCCL): a dead peer ends in an error here instead of a host
  // that keeps queueing kernels behind a collective that never finishes.
  comm_.synchronize();
  // The back end's own measure: the collective alone, not the backward pass queued before it.
  allreduce_s_ += comm_.all_reduce_seconds() - exchanged_s;
  note_finite();
  optimizer_->step();
  ++state_.step;
  return loss_sum;
}

torch::Tensor Trainer::graph_step(const torch::Tensor& indices) {
#ifdef VIT_WITH_CUDA
  if (!graph_) {
    graph_ = std::make_unique<GraphStep>(device_, indices.size(0), [this](const torch::Tensor& in) {
      torch::Tensor loss_sum = compute_gradients(in);
      comm_.all_reduce_mean_captured(grads_->buffer());
      note_finite();
      fused_->device_step();
      return loss_sum;
    });
  }
  fused_->prepare_device_step(optimizer_->param_groups().front().options().get_lr());
  torch::Tensor loss_sum = graph_->run(indices);
  fused_->count_device_step();
  ++state_.step;
  return loss_sum;
#else
  return eager_step(indices);  // (use_graph_ is never set without CUDA)
#endif
}

bool Trainer::graph_captured() const {
#ifdef VIT_WITH_CUDA
  return graph_ != nullptr && graph_->captured();
#else
  return false;
#endif
}

void Trainer::note_finite() {
  // The all-reduced buffer is the same on every rank, so every rank decides alike, with no
  // collective of its own: a NaN or Inf from any rank's loss or gradients reaches all of them.
  // The CPU checks each step before its update, which costs nothing there. On a GPU, reading a
  // flag back every step would stop the host every step: the steps are noted on the device and
  // checked where the host waits anyway (step lines, checkpoints, the epoch's end), so a
  // diverged step never reaches a checkpoint, though a few more updates may have run.
  if (device_.is_cpu()) {
    check_finite();
    return;
  }
  nonfinite_.logical_or_(torch::isfinite(grads_->buffer()).all().logical_not());
}

void Trainer::check_finite() {
  bool finite = false;
  std::string when;
  if (device_.is_cpu()) {
    finite = torch::isfinite(grads_->buffer()).all().item<bool>();
    when = "step " + std::to_string(state_.step + 1);
  } else {
    finite = !nonfinite_.item<bool>();
    when = "between step " + std::to_string(checked_step_ + 1) + " and step " +
           std::to_string(state_.step);
  }
  if (finite) {
    checked_step_ = state_.step;
    return;
  }
  const double loss = grads_->loss_slot().item<double>();
  const double norm = grads_->gradients().to(torch::kFloat64).norm().item<double>();
  diverged(when, detail::concat("the loss (", loss, ", mean over the ranks) or the gradients ",
                                "(norm ", norm, ") are not finite"));
}

void Trainer::check_parameters_finite() {
  // The gradient check cannot see an update that is not finite itself (a learning rate or weight
  // decay too large for the floats it is applied in): the parameters are checked before anything
  // is written from them. The replicas are equal, so every rank decides alike.
  const std::string bad = nonfinite_tensor(*model_);
  if (bad.empty()) return;
  diverged("step " + std::to_string(state_.step),
           "the parameter " + bad + " is not finite after the optimizer's update");
}

void Trainer::diverged(const std::string& when, const std::string& what) const {
  VIT_FAIL(when, ": training diverged: ", what,
           "; nothing was written and no checkpoint pruned: lower optim.lr (", config_.optim.lr,
           ") or raise optim.warmup_steps, and resume from the last checkpoint");
}

Evaluation Trainer::evaluate(const Split& split) {
  return evaluate_model(model_, split, config_.train.eval_batch_size, comm_);
}

std::string Trainer::resume(const std::string& mode, const CheckpointDir& checkpoints) {
  if (mode == "none") return "";  // validate() made sure no earlier run is in the way
  std::vector<std::string> candidates;
  if (mode == "auto") {
    candidates = checkpoints.candidates();
  } else {
    candidates = {mode};
  }
  for (const auto& path : candidates) {
    try {
      state_ = read_checkpoint(path, model_, *optimizer_, config_);
    } catch (const CorruptCheckpoint& e) {
      if (mode != "auto") throw;
      spdlog::warn("resume: {}; falling back to the previous checkpoint", e.what());
      continue;
    }
    if (state_.world_size != comm_.world_size()) {
      spdlog::warn("resume: {} was written by {} rank(s), this job has {}: training continues "
                   "from the same sample position with the shards recomputed",
                   path, state_.world_size, comm_.world_size());
    }
    state_.world_size = comm_.world_size();
    checked_step_ = state_.step;  // (a divergence is reported as after this step)
    return path;
  }
  VIT_CHECK(candidates.empty(), "resume: no readable checkpoint in ", checkpoints.dir());
  return "";
}

void Trainer::save(const CheckpointDir* checkpoints, double local_loss, int64_t local_images) {
  if (!device_.is_cpu()) {
    comm_.synchronize();  // (with dist.timeout_s: graph replays are not waited for elsewhere)
    check_finite();       // never a checkpoint of a diverged run
  }
  check_parameters_finite();  // nor of a diverged update: no file written or pruned
  TrainState state = state_;
  state.epoch_loss_sum = comm_.sum(local_loss);
  state.epoch_images = comm_.sum(local_images);
  if (checkpoints != nullptr) {
    const auto start = Clock::now();
    write_checkpoint(checkpoints->path_for(state.step), model_, *optimizer_, state, config_);
    checkpoints->commit(state.step, config_.checkpoint.keep_last, config_.checkpoint.keep_every);
    spdlog::info("checkpoint {} written in {:.3f} s", checkpoints->path_for(state.step),
                 seconds_since(start));
  }
  comm_.barrier();  // the other ranks wait only as long as the write lasts
}

// Images and all-reduce time since the last step line: what a step line reports.
class Trainer::ThroughputWindow {
 public:
  ThroughputWindow(int64_t step, double allreduce_s) : first_step_(step), allreduce_s_(allreduce_s) {}
  void add(int64_t images) { images_ += images; }
  struct Figures {
    double images_per_s;  // of all ranks
    double step_s;        // per step
    double allreduce_s;   // per step
  };
  // The figures of the steps since the window opened; then it opens anew at `step`.
  Figures close(int64_t step, double allreduce_s, int world) {
    const double seconds = seconds_since(start_);
    const auto steps = static_cast<double>(step - first_step_);
    const Figures figures{static_cast<double>(images_ * world) / seconds, seconds / steps,
                          (allreduce_s - allreduce_s_) / steps};
    *this = ThroughputWindow(step, allreduce_s);
    return figures;
  }

 private:
  Clock::time_point start_ = Clock::now();
  int64_t first_step_;
  double allreduce_s_;
  int64_t images_ = 0;
};

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
  ThroughputWindow window;
  EpochProgress progress;
};

int64_t Trainer::steps_from(int64_t position) const {
  const int64_t per_rank_step = config_.train.batch_size * config_.train.accum_steps;
  return (sampler_.remaining_per_rank(position) + per_rank_step - 1) / per_rank_step;
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

FitResult Trainer::fit(MetricsWriter* metrics, const CheckpointDir* checkpoints) {
  const int64_t total_steps = planned_steps();
  const int64_t per_rank_step = config_.train.batch_size * config_.train.accum_steps;
  const int64_t step_line_every = step_line_interval(config_.log, steps_per_epoch());
  last_console_line_ = Clock::now() - std::chrono::hours(1);  // the first one is shown
  FitResult fit;
  // A stop signal during start-up (data, resume): nothing was trained, so nothing is written.
  if (stop_requested()) {
    fit.stopped = true;
    return fit;
  }
  model_->train();
  while (state_.epoch < config_.train.epochs && state_.step < total_steps) {
    auto run = start_epoch();
    bool stop = false;
    int64_t b = 0;
    for (; b < run->steps && state_.step < total_steps && !stop; ++b) {
      const int64_t count = std::min(per_rank_step, run->order.size(0) - b * per_rank_step);
      const double lr = learning_rate(optim_, state_.step, total_steps);
      set_learning_rate(*optimizer_, lr);
      const auto step_loss = [&] {
        const auto armed = stall_dog_->arm("a training step");
        return train_step(run->order.narrow(/*dim=*/0, b * per_rank_step, count));
      }();
      run->loss_sum += step_loss;
      run->images += count;
      run->session_images += count;
      run->window.add(count);
      state_.epoch_position += count * comm_.world_size();
      if (step_line_every > 0 && state_.step % step_line_every == 0) {
        log_step(*run, b, step_loss, count, lr, metrics);
      }
      run->progress.update(run->done_before + b + 1, images_per_s(*run),
                           [&] { return step_loss.item<double>() / static_cast<double>(count); });
      stop = stop_requested();
      if (stop || checkpoint_due(b, run->steps)) {
        save(checkpoints, run->loss_sum.item<double>(), run->images);
      }
    }
    if (stop) {
      spdlog::warn("stop signal received: checkpoint written at step {}, stopping", state_.step);
      fit.stopped = fit.checkpointed = true;
      return fit;
    }
    fit.epochs.push_back(finish_epoch(*run, b == run->steps, total_steps, metrics, checkpoints));
  }
  return fit;
}

std::unique_ptr<Trainer::EpochRun> Trainer::start_epoch() {
  const bool carries = comm_.rank() == 0;
  const int64_t steps = steps_from(state_.epoch_position);
  const int64_t done_before = steps_per_epoch() - steps;
  const ProgressMode mode =
      comm_.rank() == 0 ? progress_mode(config_.log.progress) : ProgressMode::kLines;
  allreduce_s_ = 0;
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
      ThroughputWindow(state_.step, allreduce_s_),
      EpochProgress(mode, state_.epoch + 1, config_.train.epochs, steps_per_epoch(), done_before)});
}

double Trainer::images_per_s(const EpochRun& run) const {
  return static_cast<double>(run.session_images * comm_.world_size()) / seconds_since(run.start);
}

void Trainer::log_step(EpochRun& run, int64_t b, const torch::Tensor& step_loss, int64_t count,
                       double lr, MetricsWriter* metrics) {
  const int world = comm_.world_size();
  if (!device_.is_cpu()) {
    comm_.synchronize();
    check_finite();
  }
  // Collective (the condition is the same on every rank): the loss of the step over all ranks,
  // and the window's time and all-reduce share as rank 0 saw them.
  const double loss = comm_.sum(step_loss.item<double>()) / static_cast<double>(count * world);
  const auto window = run.window.close(state_.step, allreduce_s_, world);
  // The console gets a step line by time (log.console_every_s); metrics.jsonl gets all.
  if (seconds_since(last_console_line_) >= config_.log.console_every_s) {
    last_console_line_ = Clock::now();
    spdlog::info("epoch {}/{} step {} {} loss {:.4f} lr {:.3g} {:.0f} img/s", run.epoch + 1,
                 config_.train.epochs, state_.step,
                 run.progress.position(run.done_before + b + 1), loss, lr, window.images_per_s);
  }
  if (metrics == nullptr) return;
  metrics->write(JsonLine()
                     .add("event", "step")
                     .add("step", state_.step)
                     .add("epoch", run.epoch + 1)
                     .add("loss", loss)
                     .add("lr", lr)
                     .add("images_per_s", window.images_per_s)
                     .add("step_s", window.step_s)
                     .add("allreduce_s", window.allreduce_s)
                     .add("world_size", world));
}

bool Trainer::stop_requested() {
  // All ranks learn of a signal that reached any of them at the same step.
  return comm_.max(int64_t{StopSignals::received()}) != 0;
}

bool Trainer::checkpoint_due(int64_t b, int64_t steps) const {
  // (not on an epoch's last step: the end of the epoch writes one anyway)
  const int64_t every = config_.checkpoint.every_steps;
  return every > 0 && state_.step % every == 0 && b + 1 < steps;
}

EpochResult Trainer::finish_epoch(EpochRun& run, bool complete, int64_t total_steps,
                                  MetricsWriter* metrics, const CheckpointDir* checkpoints) {
  const int world = comm_.world_size();
  if (!device_.is_cpu()) {
    // The queued steps end before the epoch's clock stops, and a diverged epoch ends here, before
    // its line is written.
    comm_.synchronize();
    check_finite();
  }
  check_parameters_finite();  // (before the epoch's line, as after a diverged step)
  EpochResult result;
  result.epoch = run.epoch + 1;
  result.step = state_.step;
  result.epoch_s = seconds_since(run.start);
  result.allreduce_s = allreduce_s_;
  const int64_t all_images = comm_.sum(run.images);
  result.images_per_s = static_cast<double>(comm_.sum(run.session_images)) / result.epoch_s;
  result.train_loss = comm_.sum(run.loss_sum.item<double>()) / static_cast<double>(all_images);
  {
    const auto armed = stall_dog_->arm("the evaluation");
    result.test = evaluate(data_.test);
  }
  if (config_.dist.debug) check_replicas_now(result.epoch);
  spdlog::info("epoch {}/{} done: train_loss {:.4f} test_loss {:.4f} test_acc {:.2f}% "
               "{:.0f} img/s {:.1f} s (all-reduce {:.1f}%)",
               result.epoch, config_.train.epochs, result.train_loss, result.test.loss(),
               100.0 * result.test.accuracy(), result.images_per_s, result.epoch_s,
               100.0 * result.allreduce_s / result.epoch_s);
  if (metrics != nullptr) {
    metrics->write(JsonLine()
                       .add("event", "epoch")
                       .add("epoch", result.epoch)
                       .add("step", result.step)
                       .add("train_loss", result.train_loss)
                       .add("test_loss", result.test.loss())
                       .add("test_acc", result.test.accuracy())
                       .add("images_per_s", result.images_per_s)
                       .add("epoch_s", result.epoch_s)
                       .add("allreduce_s", result.allreduce_s)
                       .add("world_size", world)
                       .add("lr", learning_rate(optim_, state_.step - 1, total_steps))
                       .add("elapsed_s", uptime_s()));
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
  VIT_CHECK(grads_->intact(), "rank ", comm_.rank(),
            ": a gradient no longer lives in the flat buffer");
  drift_for_tests(model_, comm_.rank());
  check_replicas(*model_, comm_, "after epoch " + std::to_string(epoch));
  spdlog::info("replica check after epoch {}: the parameters of all {} rank(s) are bit-identical",
               epoch, comm_.world_size());
}

}  // namespace vit
