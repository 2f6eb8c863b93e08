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

  // The flat parameter buffer (tests).
  const torch::Tensor& flat_parameters() const { return flat_; }

 private:
  // Takes parameters and state entries that are not views into the flat buffers (yet) back in.
  void adopt();
  void step_cpu(double lr, double bias_correction1, double bias_correction2);
  void step_tensors(double lr, double bias_correction1, double bias_correction2);

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
};

}  // namespace vit
