// train/fused_optimizer: the one-pass update over flat buffers equals LibTorch's Adam, AdamW and
// SGD step for step (within float rounding), keeps its state in LibTorch's state objects (what
// checkpoints read), and takes loaded state and replaced parameter storage back in.
#include "train/fused_optimizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "train/flat_gradients.h"
#include "train/optimizer.h"

namespace vit {
namespace {

// Parameters shaped like a small model's (a weight matrix, a bias, a token, a big one for the
// threaded path).
std::vector<torch::Tensor> make_parameters(uint64_t seed, torch::Dtype dtype = torch::kFloat32) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> out;
  for (const auto& shape : std::vector<std::vector<int64_t>>{{8, 16}, {8}, {1, 1, 8}, {300, 257}}) {
    out.push_back(torch::randn(shape, dtype).requires_grad_(true));
  }
  return out;
}

std::vector<torch::Tensor> copies(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> out;
  for (const auto& p : parameters) out.push_back(p.detach().clone().requires_grad_(true));
  return out;
}

OptimConfig config_of(const std::string& name, double weight_decay, double momentum = 0.9) {
  OptimConfig c;
  c.name = *parse_choice<OptimName>(name);
  c.lr = 0.01;
  c.weight_decay = weight_decay;
  c.momentum = momentum;
  return c;
}

struct Case {
  std::string label;
  OptimConfig config;
  torch::Dtype dtype = torch::kFloat32;  // float64: the tensor-operation path (as on a GPU)
  bool device_scalars = false;           // step count and learning rate as tensors (CUDA graphs)
};

class FusedOptimizerTest : public ::testing::TestWithParam<Case> {};

// The same gradients into both, several steps with a changing learning rate.
TEST_P(FusedOptimizerTest, StepsLikeLibTorchs) {
  const OptimConfig& config = GetParam().config;
  auto reference_parameters = make_parameters(7, GetParam().dtype);
  auto fused_parameters = copies(reference_parameters);
  auto reference = make_optimizer(config, reference_parameters);
  FlatGradients flat(fused_parameters);
  FusedOptimizer fused(config, fused_parameters, flat.gradients());
  if (GetParam().device_scalars) fused.use_device_scalars();

  for (int step = 0; step < 12; ++step) {
    const double lr = 0.01 * (1.0 + step % 3);
    set_learning_rate(*reference, lr);
    set_learning_rate(fused, lr);
    torch::manual_seed(100 + step);
    for (size_t i = 0; i < reference_parameters.size(); ++i) {
      const auto grad = torch::randn(reference_parameters[i].sizes(), GetParam().dtype);
      reference_parameters[i].mutable_grad() = grad.clone();
      fused_parameters[i].mutable_grad().copy_(grad);  // a view into the flat buffer
    }
    reference->step();
    fused.step();
  }
  ASSERT_TRUE(flat.intact());
  for (size_t i = 0; i < reference_parameters.size(); ++i) {
    EXPECT_TRUE(torch::allclose(fused_parameters[i], reference_parameters[i], 1e-5, 1e-6))
        << GetParam().label << ": parameter " << i << " differs by "
        << (fused_parameters[i] - reference_parameters[i]).abs().max().item<double>();
    // The parameters live in the flat buffer.
    const auto* begin = static_cast<const char*>(fused.flat_parameters().data_ptr());
    const auto* at = static_cast<const char*>(fused_parameters[i].data_ptr());
    EXPECT_TRUE(at >= begin && at < begin + fused.flat_parameters().nbytes());
  }
  // LibTorch's state objects, with LibTorch's values: what a checkpoint stores.
  auto& mine = fused.state();
  auto& theirs = reference->state();
  ASSERT_EQ(mine.size(), theirs.size()) << GetParam().label;
  for (size_t i = 0; i < reference_parameters.size() && !theirs.empty(); ++i) {
    auto* a = mine.at(state_key<decltype(mine)>(fused_parameters[i])).get();
    auto* b = theirs.at(state_key<decltype(theirs)>(reference_parameters[i])).get();
    if (config.name == OptimName::kSgd) {
      EXPECT_TRUE(torch::allclose(dynamic_cast<torch::optim::SGDParamState&>(*a).momentum_buffer(),
                                  dynamic_cast<torch::optim::SGDParamState&>(*b).momentum_buffer(),
                                  1e-5, 1e-6));
    } else if (config.name == OptimName::kAdam) {
      auto& x = dynamic_cast<torch::optim::AdamParamState&>(*a);
      auto& y = dynamic_cast<torch::optim::AdamParamState&>(*b);
      EXPECT_EQ(x.step(), y.step());
      EXPECT_TRUE(torch::allclose(x.exp_avg(), y.exp_avg(), 1e-5, 1e-7));
      EXPECT_TRUE(torch::allclose(x.exp_avg_sq(), y.exp_avg_sq(), 1e-5, 1e-7));
    } else {
      auto& x = dynamic_cast<torch::optim::AdamWParamState&>(*a);
      auto& y = dynamic_cast<torch::optim::AdamWParamState&>(*b);
      EXPECT_EQ(x.step(), y.step());
      EXPECT_TRUE(torch::allclose(x.exp_avg(), y.exp_avg(), 1e-5, 1e-7));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Optimizers, FusedOptimizerTest,
    ::testing::Values(
        Case{"adam", config_of("adam", 0)}, Case{"adam_l2", config_of("adam", 0.01)},
        Case{"adamw", config_of("adamw", 0.05)}, Case{"sgd_momentum", config_of("sgd", 0.001, 0.9)},
        Case{"sgd_plain", config_of("sgd", 0.01, 0.0)},
        Case{"adam_l2_tensor_ops", config_of("adam", 0.01), torch::kFloat64},
        Case{"adamw_tensor_ops", config_of("adamw", 0.05), torch::kFloat64},
        Case{"sgd_momentum_tensor_ops", config_of("sgd", 0.001, 0.9), torch::kFloat64},
        Case{"adam_device_scalars", config_of("adam", 0), torch::kFloat32, true},
        Case{"adam_l2_device_scalars", config_of("adam", 0.01), torch::kFloat32, true},
        Case{"adamw_device_scalars", config_of("adamw", 0.05), torch::kFloat32, true},
        Case{"sgd_momentum_device_scalars", config_of("sgd", 0.001, 0.9), torch::kFloat32, true},
        Case{"sgd_plain_device_scalars", config_of("sgd", 0.01, 0.0), torch::kFloat32, true}),
    [](const auto& info) { return info.param.label; });

// State loaded from a checkpoint (new tensors in new state objects) and parameters whose storage
// was replaced are taken back in: the run goes on exactly like one that was never interrupted.
TEST(FusedOptimizer, TakesLoadedStateAndReplacedParametersBackIn) {
  const OptimConfig config = config_of("adam", 0.01);
  auto straight_parameters = make_parameters(3);
  auto resumed_parameters = copies(straight_parameters);
  FlatGradients straight_flat(straight_parameters), resumed_flat(resumed_parameters);
  FusedOptimizer straight(config, straight_parameters, straight_flat.gradients());
  FusedOptimizer resumed(config, resumed_parameters, resumed_flat.gradients());
  auto run_step = [](FusedOptimizer& optimizer, std::vector<torch::Tensor>& parameters, int step) {
    torch::manual_seed(500 + step);
    for (auto& p : parameters) p.mutable_grad().copy_(torch::randn(p.sizes()));
    optimizer.step();
  };
  for (int step = 0; step < 4; ++step) {
    run_step(straight, straight_parameters, step);
    run_step(resumed, resumed_parameters, step);
  }
  // "Load": every state object replaced by a copy holding new tensors, and new storage for the
  // parameters, as a checkpoint reader may do.
  auto& states = resumed.state();
  for (auto& p : resumed_parameters) {
    auto& entry = states.at(state_key<decltype(states)>(p));
    const auto& old = dynamic_cast<torch::optim::AdamParamState&>(*entry);
    auto fresh = std::make_unique<torch::optim::AdamParamState>();
    fresh->step(old.step());
    fresh->exp_avg(old.exp_avg().clone());
    fresh->exp_avg_sq(old.exp_avg_sq().clone());
    entry = std::move(fresh);
    torch::NoGradGuard no_grad;
    p.set_data(p.detach().clone());
  }
  resumed.flat_parameters().zero_();  // stale: must not be used
  for (int step = 4; step < 8; ++step) {
    run_step(straight, straight_parameters, step);
    run_step(resumed, resumed_parameters, step);
  }
  for (size_t i = 0; i < straight_parameters.size(); ++i) {
    EXPECT_TRUE(torch::equal(straight_parameters[i], resumed_parameters[i])) << "parameter " << i;
  }
}

// What a CUDA graph step does: host steps first (warm-up), then device steps (the replays: the
// learning rate set before each, the step counted after it), across a "resume" that loads state
// in between. The result equals host steps throughout, and the state objects count every step.
TEST(FusedOptimizer, DeviceStepsContinueHostStepsAndLoadedState) {
  for (const std::string name : {"adam", "adamw", "sgd"}) {
    const OptimConfig config = config_of(name, 0.01);
    auto host_parameters = make_parameters(5);
    auto device_parameters = copies(host_parameters);
    FlatGradients host_flat(host_parameters), device_flat(device_parameters);
    FusedOptimizer host(config, host_parameters, host_flat.gradients());
    FusedOptimizer device(config, device_parameters, device_flat.gradients());
    for (int step = 0; step < 10; ++step) {
      const double lr = 0.02 / (1 + step);
      torch::manual_seed(900 + step);
      for (size_t i = 0; i < host_parameters.size(); ++i) {
        const auto grad = torch::randn(host_parameters[i].sizes());
        host_parameters[i].mutable_grad().copy_(grad);
        device_parameters[i].mutable_grad().copy_(grad);
      }
      set_learning_rate(host, lr);
      host.step();
      if (step < 3) {
        set_learning_rate(device, lr);
        device.step();
        continue;
      }
      if (step == 3) device.use_device_scalars();
      if (step == 6 && name != "sgd") {  // a resume: new state objects holding copies
        auto& states = device.state();
        for (auto& p : device_parameters) {
          auto& entry = states.at(state_key<decltype(states)>(p));
          auto* adam = dynamic_cast<torch::optim::AdamParamState*>(entry.get());
          auto* adamw = dynamic_cast<torch::optim::AdamWParamState*>(entry.get());
          if (adam != nullptr) {
            auto fresh = std::make_unique<torch::optim::AdamParamState>();
            fresh->step(adam->step());
            fresh->exp_avg(adam->exp_avg().clone());
            fresh->exp_avg_sq(adam->exp_avg_sq().clone());
            entry = std::move(fresh);
          } else {
            ASSERT_NE(adamw, nullptr);
            auto fresh = std::make_unique<torch::optim::AdamWParamState>();
            fresh->step(adamw->step());
            fresh->exp_avg(adamw->exp_avg().clone());
            fresh->exp_avg_sq(adamw->exp_avg_sq().clone());
            entry = std::move(fresh);
          }
        }
        for (auto& p : device_parameters) {  // and new storage for the parameters
          torch::NoGradGuard no_grad;
          p.set_data(p.detach().clone());
        }
        device.flat_parameters().zero_();  // stale: must not be used
      }
      device.prepare_device_step(lr);
      device.device_step();
      device.count_device_step();
    }
    ASSERT_TRUE(device.device_scalars());
    for (size_t i = 0; i < host_parameters.size(); ++i) {
      EXPECT_TRUE(torch::allclose(device_parameters[i], host_parameters[i], 1e-5, 1e-6))
          << name << ": parameter " << i << " differs by "
          << (device_parameters[i] - host_parameters[i]).abs().max().item<double>();
    }
    if (name == "sgd") continue;
    auto& states = device.state();
    for (const auto& p : device_parameters) {
      auto* entry = states.at(state_key<decltype(states)>(p)).get();
      const int64_t steps = name == "adam"
                                ? dynamic_cast<torch::optim::AdamParamState&>(*entry).step()
                                : dynamic_cast<torch::optim::AdamWParamState&>(*entry).step();
      EXPECT_EQ(steps, 10) << name;
    }
  }
}

TEST(FusedOptimizer, RefusesAGradientBufferOfAnotherSize) {
  auto parameters = make_parameters(1);
  EXPECT_THROW(FusedOptimizer(config_of("adam", 0), parameters, torch::zeros({5})), std::exception);
}

}  // namespace
}  // namespace vit
