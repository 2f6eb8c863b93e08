#include "train/optimizer_state.h"

#include <memory>
#include <vector>

#include "train/optimizer.h"  // state_key
#include "util/error.h"

namespace vit {
namespace {

std::vector<torch::Tensor> optimizer_parameters(torch::optim::Optimizer& optimizer) {
  std::vector<torch::Tensor> out;
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) out.push_back(p);
  }
  return out;
}

template <typename AdamState>
void put_adam(TensorFile& file, const std::string& prefix, const AdamState& state) {
  file.put(prefix + "step", static_cast<int64_t>(state.step()));
  file.put(prefix + "exp_avg", state.exp_avg());
  file.put(prefix + "exp_avg_sq", state.exp_avg_sq());
  if (state.max_exp_avg_sq().defined()) file.put(prefix + "max_exp_avg_sq", state.max_exp_avg_sq());
}

// A stored optimizer tensor, on the parameter's device, shaped like it.
torch::Tensor optimizer_tensor(const TensorFile& file, const std::string& key,
                               const torch::Tensor& parameter) {
  const torch::Tensor& stored = file.get_tensor(key);
  VIT_CHECK(stored.sizes() == parameter.sizes() && stored.scalar_type() == parameter.scalar_type(),
            key, " has shape ", stored.sizes(), ", its parameter ", parameter.sizes());
  return stored.to(parameter.device());
}

template <typename AdamState>
std::unique_ptr<AdamState> read_adam(const TensorFile& file, const std::string& prefix,
                                     const torch::Tensor& parameter) {
  auto state = std::make_unique<AdamState>();
  state->step(file.get_int(prefix + "step"));
  state->exp_avg(optimizer_tensor(file, prefix + "exp_avg", parameter));
  state->exp_avg_sq(optimizer_tensor(file, prefix + "exp_avg_sq", parameter));
  if (file.has(prefix + "max_exp_avg_sq")) {
    state->max_exp_avg_sq(optimizer_tensor(file, prefix + "max_exp_avg_sq", parameter));
  }
  return state;
}

}  // namespace

void put_optimizer_state(TensorFile& file, torch::optim::Optimizer& optimizer) {
  auto& states = optimizer.state();
  const auto parameters = optimizer_parameters(optimizer);
  for (size_t i = 0; i < parameters.size(); ++i) {
    const auto it = states.find(state_key<decltype(states)>(parameters[i]));
    if (it == states.end()) continue;  // no step taken yet
    const std::string prefix = "optim/" + std::to_string(i) + "/";
    const auto* state = it->second.get();
    if (const auto* adam = dynamic_cast<const torch::optim::AdamParamState*>(state)) {
      put_adam(file, prefix, *adam);
    } else if (const auto* adamw = dynamic_cast<const torch::optim::AdamWParamState*>(state)) {
      put_adam(file, prefix, *adamw);
    } else if (const auto* sgd = dynamic_cast<const torch::optim::SGDParamState*>(state)) {
      if (sgd->momentum_buffer().defined()) file.put(prefix + "momentum_buffer", sgd->momentum_buffer());
    }
  }
}

void read_optimizer_state(const TensorFile& file, torch::optim::Optimizer& optimizer,
                          OptimName name) {
  auto& states = optimizer.state();
  states.clear();
  const auto parameters = optimizer_parameters(optimizer);
  for (size_t i = 0; i < parameters.size(); ++i) {
    const std::string prefix = "optim/" + std::to_string(i) + "/";
    std::unique_ptr<torch::optim::OptimizerParamState> state;
    if (name == OptimName::kSgd) {
      if (!file.has(prefix + "momentum_buffer")) continue;
      auto sgd = std::make_unique<torch::optim::SGDParamState>();
      sgd->momentum_buffer(optimizer_tensor(file, prefix + "momentum_buffer", parameters[i]));
      state = std::move(sgd);
    } else {
      if (!file.has(prefix + "step")) continue;
      if (name == OptimName::kAdamW) {
        state = read_adam<torch::optim::AdamWParamState>(file, prefix, parameters[i]);
      } else {
        state = read_adam<torch::optim::AdamParamState>(file, prefix, parameters[i]);
      }
    }
    states[state_key<decltype(states)>(parameters[i])] = std::move(state);
  }
}

void write_checkpoint(const std::string& path, VisionTransformer& model,
                      torch::optim::Optimizer& optimizer, const TrainState& state,
                      const TrainConfig& config) {
  write_checkpoint(path, model, state, config,
                   [&](TensorFile& file) { put_optimizer_state(file, optimizer); });
}

TrainState read_checkpoint(const std::string& path, VisionTransformer& model,
                           torch::optim::Optimizer& optimizer, const TrainConfig& config) {
  return read_checkpoint(path, model, config, [&](const TensorFile& file) {
    read_optimizer_state(file, optimizer, config.optim.name);
  });
}

}  // namespace vit
