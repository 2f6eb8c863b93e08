// TrainStep: the step engine beneath the training loop (train/trainer.h). One optimizer step of
// one rank on sample indices it is given: forward and backward per micro-batch, one all-reduce of
// the flat gradient buffer (the step's loss in its last slot), one optimizer update. It owns what
// a step needs (the flat gradients, LibTorch's or the fused optimizer, the CUDA graph of a full
// step, the forward pass's precision, the batch-parallel threads, the flag of a step that was not
// finite) and nothing of the run: no epochs, sampler, checkpoints or files, so tests drive it with
// indices of their own.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/train_config.h"
#include "data/dataset.h"
#include "model/vit.h"
#include "parallel/communicator.h"
#include "train/flat_gradients.h"
#include "train/precision.h"

namespace vit {

class FusedOptimizer;
class GraphStep;  // GPU builds only (train/graph_step.h)

// This rank's samples in one optimizer step: train.accum_steps micro-batches of
// train.batch_size (the last step of an epoch may have fewer). The global batch is this times
// the world size.
inline int64_t samples_per_step(const TrainLoopConfig& train) {
  return train.batch_size * train.accum_steps;
}

// CPU: the images one thread runs forward and backward at a time. A micro-batch of 128 images
// at width 64 makes layer outputs of several MiB, which leave the core's cache before the next
// layer reads them; in passes of a few dozen images they are still there (bench/RESULTS.md,
// 2026-12-06, seventh session). train.chunk_images when set; for 0 the most images whose widest
// layer output (tokens x max(3 x hidden_d, mlp_ratio x hidden_d) floats) fits in 1 MiB, at least
// one. 0 on a GPU: the whole micro-batch in one pass.
int64_t images_per_pass(const TrainConfig& config, torch::Device device);

class TrainStep {
 public:
  // Trains `model` (on `device`, equal on every rank already) on the samples of `train` with
  // `optim` (its learning rate as scaled for the world size). From `config`: train.batch_size,
  // accum_steps, parallel, precision, cuda_graph, and optim.lr for the divergence message.
  // `config` and `comm` must outlive the step engine. Throws vit::Error for train.cuda_graph on
  // where a graph cannot run, naming the rank.
  TrainStep(const TrainConfig& config, const OptimConfig& optim, VisionTransformer model,
            Split train, Communicator& comm, torch::Device device);
  ~TrainStep();
  TrainStep(const TrainStep&) = delete;
  TrainStep& operator=(const TrainStep&) = delete;

  // One optimizer step over the micro-batches of `indices` (this rank's samples of the step, at
  // most samples_per_step(config.train)) at learning rate `lr`. Returns the summed loss of the
  // samples (0-dim float64 on the device, not synced). A full step replays the CUDA graph where
  // one is used. A step whose loss or gradients are not finite throws the divergence error
  // before its update on the CPU; on a GPU it is noted for the next settle().
  torch::Tensor run(const torch::Tensor& indices, double lr);

  // Waits for the queued steps (the communicator's synchronize, with its deadline) and throws the
  // divergence error when one of the steps since the last settle had a loss or gradient that
  // was not finite. Nothing to wait for on the CPU, whose steps check themselves.
  void settle();
  // Throws the divergence error when a parameter or buffer of the model is not finite (an update
  // that was not finite itself, which the gradient check cannot see).
  void check_parameters() const;

  // Steps taken (counted from restart_at), as the divergence messages number them.
  int64_t steps() const { return steps_; }
  // After a resume: `steps` were taken before, and all of them were finite.
  void restart_at(int64_t steps);

  // The learning rate of the last step (the optimizer's own before the first).
  double learning_rate() const;
  // Seconds spent in the gradient all-reduce by the eager steps so far (the back end's measure).
  double allreduce_s() const { return allreduce_s_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  const FlatGradients& gradients() const { return *grads_; }
  // Threads that share each micro-batch (train.parallel batch; 1: LibTorch's own threading).
  int workers() const { return workers_; }
  // Images per thread and pass (images_per_pass; 0: whole micro-batches).
  int64_t pass_images() const { return pass_images_; }

  // Whether full steps run as a CUDA graph (train.cuda_graph; decided at construction).
  bool uses_cuda_graph() const { return use_graph_; }
  // Whether a step was captured as a graph (and later steps replay it).
  bool graph_captured() const;
  // Why a step cannot be a CUDA graph on this rank ("" when it can).
  std::string graph_obstacle() const;

 private:
  // Forward and backward of one pass (`indices`), its gradient weighted by `weight` and added to
  // the flat gradient buffer; returns the summed loss of its images (0-dim, float64).
  torch::Tensor accumulate(const torch::Tensor& indices, double weight);
  // The same over the batch-parallel threads, each taking a slice of the pass.
  torch::Tensor accumulate_in_threads(const torch::Tensor& indices, double weight, int workers);
  // The gradients of a step's micro-batches in the flat buffer (each micro-batch in passes of
  // pass_images_ images per thread), the step's mean loss in its loss slot; returns the summed
  // loss. No collective, no host sync.
  torch::Tensor compute_gradients(const torch::Tensor& indices);
  torch::Tensor eager_step(const torch::Tensor& indices);
  torch::Tensor graph_step(const torch::Tensor& indices);
  // After a step's all-reduce: the CPU checks at once (check_finite), a GPU notes it in
  // nonfinite_ for the next settle().
  void note_finite();
  // Throws the divergence error when the step's all-reduced loss or gradients hold a NaN or an
  // Inf (on a GPU: when one of the steps since the last check did).
  void check_finite();
  // Throws the divergence error: `when` it was found, `what` was not finite.
  [[noreturn]] void diverged(const std::string& when, const std::string& what) const;

  const TrainConfig& config_;
  Communicator& comm_;
  torch::Device device_;
  VisionTransformer model_;
  Split train_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<FlatGradients> grads_;
  int workers_ = 1;
  int64_t pass_images_ = 0;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  FusedOptimizer* fused_ = nullptr;  // optimizer_, when optim.fused is on
  Precision precision_ = Precision::kFp32;
  bool use_graph_ = false;
  std::unique_ptr<GraphStep> graph_;  // made at the first full step
  // GPU: whether a step since the last check had a loss or gradient that is not finite (a device
  // flag, read by check_finite() only where the host waits anyway).
  torch::Tensor nonfinite_;
  int64_t steps_ = 0;
  int64_t checked_step_ = 0;  // the last step known finite
  double allreduce_s_ = 0;
};

}  // namespace vit
