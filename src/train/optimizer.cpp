#include "train/optimizer.h"

#include <cmath>

#include "util/error.h"

namespace vit {

std::unique_ptr<torch::optim::OptimizerOptions> optimizer_options(const OptimConfig& c) {
  if (c.name == OptimName::kAdam) {
    return std::make_unique<torch::optim::AdamOptions>(
        torch::optim::AdamOptions(c.lr).betas({c.beta1, c.beta2}).weight_decay(c.weight_decay));
  }
  if (c.name == OptimName::kAdamW) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(c.lr).betas({c.beta1, c.beta2}).weight_decay(c.weight_decay));
  }
  if (c.name == OptimName::kSgd) {
    return std::make_unique<torch::optim::SGDOptions>(
        torch::optim::SGDOptions(c.lr).momentum(c.momentum).weight_decay(c.weight_decay));
  }
  VIT_FAIL("optim.name: unknown optimizer '", to_string(c.name), "' (allowed: adam, adamw, sgd)");
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& c,
                                                        std::vector<torch::Tensor> parameters) {
  const auto options = optimizer_options(c);
  if (c.name == OptimName::kAdam) {
    return std::make_unique<torch::optim::Adam>(
        std::move(parameters), static_cast<const torch::optim::AdamOptions&>(*options));
  }
  if (c.name == OptimName::kAdamW) {
    return std::make_unique<torch::optim::AdamW>(
        std::move(parameters), static_cast<const torch::optim::AdamWOptions&>(*options));
  }
  return std::make_unique<torch::optim::SGD>(
      std::move(parameters), static_cast<const torch::optim::SGDOptions&>(*options));
}

double learning_rate(const OptimConfig& c, int64_t step, int64_t total_steps) {
  if (step < c.warmup_steps) {
    return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  }
  if (c.schedule == LrSchedule::kConstant) return c.lr;
  // cosine from lr down to min_lr_ratio * lr over the steps after warm-up
  const double span = static_cast<double>(std::max<int64_t>(1, total_steps - c.warmup_steps));
  const double progress = std::min(1.0, static_cast<double>(step - c.warmup_steps) / span);
  const double floor = c.min_lr_ratio * c.lr;
  return floor + 0.5 * (c.lr - floor) * (1.0 + std::cos(M_PI * progress));
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace vit
