// FusedOptimizer: Adam, AdamW and SGD (with momentum and weight decay) in one pass over flat
// buffers. The parameters become views into one contiguous buffer (as their gradients are, in
// FlatGradients), and so do the optimizer's moments; a step is one loop over that memory (on the
// CPU: a vectorised loop split over the threads; elsewhere: a handful of tensor operations over
// the whole buffer) instead of LibTorch's ~8 operations for each of the model's parameters, which
// for a model of a few thousand weights cost more in dispatch than in arithmetic.
//
// It is a torch::optim::Optimizer with LibTorch's own per-parameter state objects (Adam's
// exp_avg, exp_avg_sq and step; SGD's momentum_buffer), whose tensors are views into the flat
// buffers: checkpoints read and write it exactly as LibTorch's optimizers' state, and a file
// written with one resumes with the other. State loaded into it from elsewhere (new tensors) is
// copied into the flat buffers at the next step, and parameters whose storage was replaced are
// taken back into the flat buffer the same way.
#pragma once

#include <torch/torch.h>

#include <type_traits>
#include <utility>
#include <vector>

#include "config/train_config.h"

namespace vit {

class FusedOptimizer : public torch::optim::Optimizer {
 public:
  // `gradients`: the flat buffer holding every parameter's gradient in the parameters' order
  // (FlatGradients::gradients()); read at each step, never resized.
  FusedOptimizer(const OptimConfig& config, std::vector<torch::Tensor> parameters,
                 torch::Tensor gradients);

  torch::Tensor step(LossClosure closure = nullptr) override;

  // Device scalars, for a step captured in a CUDA graph: from here on the step count and the
  // learning rate live in 0-dim tensors on the parameters' device, and device_step() is tensor
  // operations only (no host reads, no host-side bookkeeping), which a graph can capture and
  // replay. step() keeps working (it sets the device learning rate from the parameter group,
  // runs device_step() and counts it), so eager steps and replays mix freely.
  void use_device_scalars();
  bool device_scalars() const { return step_on_device_.defined(); }
  // Before a replay: takes in state loaded since the last step (a resume) and sets the learning
  // rate the next device_step() uses (kernels enqueued on the current stream, no sync).
  void prepare_device_step(double lr);
  // One update with the device scalars, enqueued on the current stream: step += 1, then Adam,
  // AdamW or SGD as step() computes it.
  void device_step();
  // The host's side of a device_step() that ran (directly or replayed): the step count and
  // LibTorch's state objects (which checkpoints save) follow it.
  void count_device_step();

  // The flat parameter buffer (tests).
  const torch::Tensor& flat_parameters() const { return flat_; }

 private:
  // Takes parameters and state entries that are not views into the flat buffers (yet) back in.
  void adopt();
  void step_cpu(double lr, double bias_correction1, double bias_correction2);
  void step_tensors(double lr, double bias_correction1, double bias_correction2);
  // LibTorch's state objects, pointing into the flat buffers, with the step count set.
  void update_states();

  // Parameter i's slices of the flat buffers (made once: views cost more than the update).
  struct Views {
    torch::Tensor weights, first, second;
  };
  using StateKey =
      std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;

  OptimConfig config_;
  std::vector<torch::Tensor> parameters_;
  std::vector<int64_t> offsets_;
  std::vector<Views> views_;
  std::vector<StateKey> keys_;  // each parameter's in state()
  torch::Tensor gradients_;
  torch::Tensor flat_;    // parameters
  torch::Tensor first_;   // exp_avg, or SGD's momentum buffer
  torch::Tensor second_;  // exp_avg_sq
  int64_t steps_ = 0;     // steps taken (the state objects' step, for Adam)
  // Device scalars (use_device_scalars): float64, 0-dim, on the parameters' device.
  torch::Tensor step_on_device_, lr_on_device_;
};

}  // namespace vit
