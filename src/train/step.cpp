#include "train/step.h"

#include <spdlog/spdlog.h>

#include <ATen/Parallel.h>  // at::parallel_for: the batch-parallel threads

#include <algorithm>
#include <cmath>

#include "store/checkpoint.h"  // nonfinite_tensor
#include "train/fused_optimizer.h"
#include "train/optimizer.h"
#include "util/error.h"
#ifdef VIT_WITH_CUDA
#include "train/graph_step.h"
#endif

namespace vit {
#ifndef VIT_WITH_CUDA
class GraphStep {};  // never made without CUDA; complete here so that the step can own one
#endif

namespace {

// The mean cross-entropy of `batch`, its forward pass in `precision` (autocast is per thread:
// each batch-parallel thread opens its own scope).
torch::Tensor forward_loss(VisionTransformer& model, const Batch& batch, torch::Device device,
                           Precision precision) {
  const AutocastScope autocast(device, precision);
  return torch::nn::functional::cross_entropy(model->forward(batch.images), batch.labels);
}

}  // namespace

int64_t images_per_pass(const TrainConfig& config, torch::Device device) {
  if (!device.is_cpu()) return 0;
  if (config.train.chunk_images > 0) return config.train.chunk_images;
  const ModelConfig& m = config.model;
  const int64_t tokens = m.n_patches * m.n_patches + 1;
  const int64_t widest = std::max(3 * m.hidden_d, m.mlp_ratio * m.hidden_d);
  constexpr int64_t kPassBytes = int64_t{1} << 20;
  return std::max<int64_t>(1, kPassBytes / (tokens * widest * static_cast<int64_t>(sizeof(float))));
}

TrainStep::TrainStep(const TrainConfig& config, const OptimConfig& optim, VisionTransformer model,
                     Split train, Communicator& comm, torch::Device device)
    : config_(config),
      comm_(comm),
      device_(device),
      model_(std::move(model)),
      train_(std::move(train)),
      params_(model_->parameters()),
      grads_(std::make_unique<FlatGradients>(params_)) {
  // Batch parallelism: on a CPU the model is too small for LibTorch to keep several threads busy
  // inside each kernel (measured: 2 threads trained the seed model only 7% faster than 1), so
  // the threads take slices of the batch instead, each with single-threaded kernels.
  const bool batch_parallel = config.train.parallel == ParallelMode::kBatch ||
                              (config.train.parallel == ParallelMode::kAuto && device.is_cpu());
  if (batch_parallel && torch::get_num_threads() > 1) workers_ = torch::get_num_threads();
  pass_images_ = images_per_pass(config, device);
  spdlog::debug("train.parallel {}: {} thread(s) share each micro-batch, in passes of {}",
                to_string(config.train.parallel), workers_,
                pass_images_ > 0 ? std::to_string(pass_images_) + " image(s) per thread" : "all");
  if (optim.fused == OnOff::kOn) {
    auto fused = std::make_unique<FusedOptimizer>(optim, params_, grads_->gradients());
    fused_ = fused.get();
    optimizer_ = std::move(fused);
  } else {
    optimizer_ = make_optimizer(optim, model_->parameters());
  }
  precision_ = config.train.precision;
  nonfinite_ = torch::zeros({}, torch::TensorOptions().dtype(torch::kBool).device(device_));
  const std::string obstacle = graph_obstacle();
  VIT_CHECK(config.train.cuda_graph != CudaGraphMode::kOn || obstacle.empty(), "rank ", comm.rank(),
            ": train.cuda_graph on: ", obstacle, " (train.cuda_graph auto steps eagerly there)");
  use_graph_ = config.train.cuda_graph != CudaGraphMode::kOff && obstacle.empty();
  if (use_graph_) fused_->use_device_scalars();
  if (device_.is_cuda()) {
    spdlog::info("train.cuda_graph {}: {}", to_string(config.train.cuda_graph),
                 use_graph_ ? "full steps replay one CUDA graph"
                            : "eager steps" + (obstacle.empty() ? "" : " (" + obstacle + ")"));
  }
}

TrainStep::~TrainStep() = default;

std::string TrainStep::graph_obstacle() const {
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

bool TrainStep::graph_captured() const {
#ifdef VIT_WITH_CUDA
  return graph_ != nullptr && graph_->captured();
#else
  return false;
#endif
}

double TrainStep::learning_rate() const {
  return optimizer_->param_groups().front().options().get_lr();
}

void TrainStep::restart_at(int64_t steps) {
  steps_ = steps;
  checked_step_ = steps;  // (a divergence is reported as after this step)
}

torch::Tensor TrainStep::accumulate(const torch::Tensor& indices, double weight) {
  const int64_t count = indices.size(0);
  const int workers = static_cast<int>(std::min<int64_t>(workers_, count));
  if (workers > 1) return accumulate_in_threads(indices, weight, workers);
  const torch::Tensor loss = forward_loss(model_, gather(train_, indices), device_, precision_);
  (loss * weight).backward();
  return loss.detach().to(torch::kFloat64) * static_cast<double>(count);
}

torch::Tensor TrainStep::accumulate_in_threads(const torch::Tensor& indices, double weight,
                                               int workers) {
  // Each worker thread runs forward and backward of its slice (kernels inside a parallel region
  // run single-threaded) and returns its gradients; they are summed here in a fixed order, so
  // the result does not depend on which thread finishes first.
  const int64_t count = indices.size(0);
  std::vector<std::vector<torch::Tensor>> grads(static_cast<size_t>(workers));
  std::vector<torch::Tensor> losses(static_cast<size_t>(workers));
  at::parallel_for(0, workers, /*grain_size=*/1, [&](int64_t begin, int64_t end) {
    for (int64_t w = begin; w < end; ++w) {
      const int64_t first = count * w / workers, last = count * (w + 1) / workers;
      const Batch batch = gather(train_, indices.slice(/*dim=*/0, first, last));
      const torch::Tensor loss = forward_loss(model_, batch, device_, precision_);
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

torch::Tensor TrainStep::compute_gradients(const torch::Tensor& indices) {
  const int64_t total = indices.size(0);
  const int64_t batch_size = config_.train.batch_size;
  auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  grads_->zero();
  for (int64_t first = 0; first < total; first += batch_size) {
    const int64_t count = std::min(batch_size, total - first);
    // The micro-batch in passes of equal size, at most pass_images_ per thread each.
    const int64_t most = pass_images_ > 0 ? pass_images_ * workers_ : count;
    const int64_t passes = (count + most - 1) / most;
    for (int64_t p = 0; p < passes; ++p) {
      const int64_t begin = count * p / passes, end = count * (p + 1) / passes;
      // Weighted by the pass's share, so the step's gradient is the mean over all of the step's
      // samples, however they are split into micro-batches and passes.
      loss_sum += accumulate(indices.narrow(/*dim=*/0, first + begin, end - begin),
                             static_cast<double>(end - begin) / static_cast<double>(total));
    }
  }
  // The step's mean loss rides in the gradient buffer's last element.
  grads_->loss_slot().copy_(loss_sum / static_cast<double>(total));
  return loss_sum;
}

torch::Tensor TrainStep::run(const torch::Tensor& indices, double lr) {
  set_learning_rate(*optimizer_, lr);
  // (an epoch's last, shorter step runs eagerly: a graph has fixed shapes)
  const bool full = indices.size(0) == samples_per_step(config_.train);
  return use_graph_ && full ? graph_step(indices) : eager_step(indices);
}

torch::Tensor TrainStep::eager_step(const torch::Tensor& indices) {
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
  ++steps_;
  return loss_sum;
}

torch::Tensor TrainStep::graph_step(const torch::Tensor& indices) {
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
  fused_->prepare_device_step(learning_rate());
  torch::Tensor loss_sum = graph_->run(indices);
  fused_->count_device_step();
  ++steps_;
  return loss_sum;
#else
  return eager_step(indices);  // (use_graph_ is never set without CUDA)
#endif
}

void TrainStep::note_finite() {
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

void TrainStep::settle() {
  if (device_.is_cpu()) return;  // (each step checked itself before its update)
  comm_.synchronize();  // (with dist.timeout_s: graph replays are not waited for elsewhere)
  check_finite();
}

void TrainStep::check_finite() {
  bool finite = false;
  std::string when;
  if (device_.is_cpu()) {
    finite = torch::isfinite(grads_->buffer()).all().item<bool>();
    when = "step " + std::to_string(steps_ + 1);
  } else {
    finite = !nonfinite_.item<bool>();
    when = "between step " + std::to_string(checked_step_ + 1) + " and step " +
           std::to_string(steps_);
  }
  if (finite) {
    checked_step_ = steps_;
    return;
  }
  // A NaN prints as "nan" whatever its sign bit (the C library writes "-nan" for some).
  const auto shown = [](double x) { return std::isnan(x) ? std::string("nan") : detail::concat(x); };
  const double loss = grads_->loss_slot().item<double>();
  const double norm = grads_->gradients().to(torch::kFloat64).norm().item<double>();
  diverged(when, detail::concat("the loss (", shown(loss), ", mean over the ranks) or the gradients ",
                                "(norm ", shown(norm), ") are not finite"));
}

void TrainStep::check_parameters() const {
  // The gradient check cannot see an update that is not finite itself (a learning rate or weight
  // decay too large for the floats it is applied in): the parameters are checked before anything
  // is written from them. The replicas are equal, so every rank decides alike.
  const std::string bad = nonfinite_tensor(*model_);
  if (bad.empty()) return;
  diverged("step " + std::to_string(steps_),
           "the parameter " + bad + " is not finite after the optimizer's update");
}

void TrainStep::diverged(const std::string& when, const std::string& what) const {
  VIT_FAIL(when, ": training diverged: ", what,
           "; nothing was written and no checkpoint pruned: lower optim.lr (", config_.optim.lr,
           ") or raise optim.warmup_steps, and resume from the last checkpoint");
}

}  // namespace vit
