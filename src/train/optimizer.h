// The optimizer named by optim.name and the learning-rate schedule (linear warm-up, then constant
// or cosine decay to min_lr_ratio * lr over the run's total steps).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <sstream>
#include <string>
#include <type_traits>

#include "config/train_config.h"

namespace vit {

// The options (lr, betas, momentum, weight decay) of the optimizer optim.name names; throws
// vit::Error for an unknown name.
std::unique_ptr<torch::optim::OptimizerOptions> optimizer_options(const OptimConfig& config);

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& config,
                                                        std::vector<torch::Tensor> parameters);

// Learning rate for the 0-based optimizer step `step` of a run of `total_steps` steps.
double learning_rate(const OptimConfig& config, int64_t step, int64_t total_steps);

// Sets the learning rate of every parameter group.
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

// The key of `parameter` in an optimizer's state map (`Map`: decltype(optimizer.state())).
template <typename Map>
auto state_key(const torch::Tensor& parameter) {
  using Key = typename std::decay_t<Map>::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;  // LibTorch 1.x: what its c10::guts::to_string(impl pointer) gives
    key << static_cast<const void*>(parameter.unsafeGetTensorImpl());
    return key.str();
  } else {
    return static_cast<Key>(parameter.unsafeGetTensorImpl());  // LibTorch 2.x
  }
}

}  // namespace vit
