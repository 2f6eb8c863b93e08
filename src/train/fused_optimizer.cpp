#include "train/fused_optimizer.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <memory>

#include "train/optimizer.h"  // optimizer_options, state_key
#include "util/error.h"
#include "util/multiversion.h"

namespace vit {
namespace {

struct AdamScalars {
  float beta1, beta2, one_minus_beta1, one_minus_beta2;
  float l2;          // Adam: weight decay added to the gradient; AdamW: 0
  float decay;       // AdamW: 1 - lr * weight_decay applied to the weights first; Adam: 1
  float step_size;   // lr / bias_correction1
  float sqrt_bias2;  // sqrt(bias_correction2)
  float eps;
};

// The order of LibTorch's Adam/AdamW, element by element: decay, moments, then
// p += -step_size * m / (sqrt(v) / sqrt(bc2) + eps).
VIT_MULTIVERSION void adam_range(float* p, const float* g, float* m, float* v, int64_t n,
                                 const AdamScalars s) {
  for (int64_t i = 0; i < n; ++i) {
    const float weight = p[i] * s.decay;
    const float grad = g[i] + s.l2 * p[i];
    const float first = m[i] * s.beta1 + s.one_minus_beta1 * grad;
    const float second = v[i] * s.beta2 + s.one_minus_beta2 * grad * grad;
    m[i] = first;
    v[i] = second;
    p[i] = weight + (-s.step_size) * (first / (std::sqrt(second) / s.sqrt_bias2 + s.eps));
  }
}

// LibTorch's SGD: d = g + wd * p; with momentum, buf = buf * momentum + d (the buffer starts at
// zero, which gives LibTorch's clone of d at the first step) and d = buf; p += -lr * d.
VIT_MULTIVERSION void sgd_range(float* p, const float* g, float* buf, int64_t n, float lr,
                                float weight_decay, float momentum) {
  for (int64_t i = 0; i < n; ++i) {
    float d = g[i] + weight_decay * p[i];
    if (buf != nullptr) {
      d = buf[i] * momentum + d;
      buf[i] = d;
    }
    p[i] = p[i] + (-lr) * d;
  }
}

constexpr int64_t kGrain = 1 << 15;  // elements per thread's share, at least

// Adam's or AdamW's state object of one parameter, made on its first step with the moments as
// views into the flat buffers, and its step count set.
template <typename AdamState, typename Entry, typename Views>
void adam_state(Entry& entry, const Views& views, int64_t steps) {
  if (!entry) {
    auto state = std::make_unique<AdamState>();
    state->exp_avg(views.first);
    state->exp_avg_sq(views.second);
    entry = std::move(state);
  }
  static_cast<AdamState&>(*entry).step(steps);
}

}  // namespace

FusedOptimizer::FusedOptimizer(const OptimConfig& config, std::vector<torch::Tensor> parameters,
                               torch::Tensor gradients)
    : Optimizer({torch::optim::OptimizerParamGroup(parameters)}, optimizer_options(config)),
      config_(config),
      parameters_(std::move(parameters)),
      gradients_(std::move(gradients)) {
  VIT_CHECK(!parameters_.empty(), "fused optimizer: no parameters");
  int64_t total = 0;
  for (const auto& p : parameters_) {
    VIT_CHECK(p.device() == parameters_.front().device() &&
                  p.scalar_type() == parameters_.front().scalar_type(),
              "fused optimizer: parameters differ in device or type");
    offsets_.push_back(total);
    total += p.numel();
  }
  VIT_CHECK(gradients_.dim() == 1 && gradients_.numel() == total &&
                gradients_.device() == parameters_.front().device() &&
                gradients_.scalar_type() == parameters_.front().scalar_type(),
            "fused optimizer: the gradient buffer does not match the parameters");
  const auto options = parameters_.front().options().requires_grad(false);
  flat_ = torch::empty({total}, options);
  first_ = torch::zeros({total}, options);
  if (config_.name != OptimName::kSgd) second_ = torch::zeros({total}, options);
  auto& states = state();
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const torch::Tensor& p = parameters_[i];
    const auto slice = [&](const torch::Tensor& flat) {
      return flat.defined() ? flat.narrow(0, offsets_[i], p.numel()).view(p.sizes()) : flat;
    };
    views_.push_back({slice(flat_), slice(first_), slice(second_)});
    keys_.push_back(state_key<decltype(states)>(p));
  }
  adopt();
}

void FusedOptimizer::adopt() {
  torch::NoGradGuard no_grad;
  auto& states = state();
  int64_t steps = -1;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    torch::Tensor& p = parameters_[i];
    const Views& views = views_[i];
    if (p.data_ptr() != views.weights.data_ptr()) {
      views.weights.copy_(p.detach());
      p.set_data(views.weights);
    }
    const auto it = states.find(keys_[i]);
    if (it == states.end()) {  // no state (no step yet, or none loaded): start from zero
      // (plain SGD keeps none ever, and reads no moment: no kernels for it every step)
      if (config_.name == OptimName::kSgd && config_.momentum == 0) continue;
      views.first.zero_();
      if (views.second.defined()) views.second.zero_();
      continue;
    }
    // Loaded or own state: into the flat buffers, and the state object pointed at them.
    const auto take = [](const torch::Tensor& stored, const torch::Tensor& into) {
      if (stored.defined() && stored.data_ptr() == into.data_ptr()) return false;
      if (stored.defined()) {
        into.copy_(stored);
      } else {
        into.zero_();
      }
      return true;
    };
    auto* base = it->second.get();
    const auto take_adam = [&](auto& adam) {
      if (take(adam.exp_avg(), views.first)) adam.exp_avg(views.first);
      if (take(adam.exp_avg_sq(), views.second)) adam.exp_avg_sq(views.second);
      steps = std::max(steps, static_cast<int64_t>(adam.step()));
    };
    if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(base)) {
      take_adam(*adam);
    } else if (auto* adamw = dynamic_cast<torch::optim::AdamWParamState*>(base)) {
      take_adam(*adamw);
    } else if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(base)) {
      if (take(sgd->momentum_buffer(), views.first)) sgd->momentum_buffer(views.first);
    }
  }
  steps_ = states.empty() ? 0 : std::max<int64_t>(steps, 0);
}

torch::Tensor FusedOptimizer::step(LossClosure closure) {
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode grad_mode(true);
    loss = closure();
  }
  if (device_scalars()) {
    prepare_device_step(param_groups().front().options().get_lr());
    device_step();
    count_device_step();
    return loss;
  }
  adopt();
  torch::NoGradGuard no_grad;
  ++steps_;
  const double lr = param_groups().front().options().get_lr();
  const double bias1 = 1 - std::pow(config_.beta1, static_cast<double>(steps_));
  const double bias2 = 1 - std::pow(config_.beta2, static_cast<double>(steps_));
  if (flat_.is_cpu() && flat_.scalar_type() == torch::kFloat32 && flat_.is_contiguous() &&
      gradients_.is_contiguous()) {
    step_cpu(lr, bias1, bias2);
  } else {
    step_tensors(lr, bias1, bias2);
  }

  update_states();
  return loss;
}

void FusedOptimizer::update_states() {
  // Made at the first step; Adam's carry the step count.
  auto& states = state();
  const bool stateful = config_.name != OptimName::kSgd || config_.momentum != 0;
  for (size_t i = 0; i < parameters_.size() && stateful; ++i) {
    auto& entry = states[keys_[i]];
    const Views& views = views_[i];
    if (config_.name == OptimName::kSgd) {
      if (!entry) {
        auto sgd = std::make_unique<torch::optim::SGDParamState>();
        sgd->momentum_buffer(views.first);
        entry = std::move(sgd);
      }
    } else if (config_.name == OptimName::kAdamW) {
      adam_state<torch::optim::AdamWParamState>(entry, views, steps_);
    } else {
      adam_state<torch::optim::AdamParamState>(entry, views, steps_);
    }
  }
}

void FusedOptimizer::use_device_scalars() {
  if (device_scalars()) return;
  const auto options = flat_.options().dtype(torch::kFloat64);
  step_on_device_ = torch::zeros({}, options);
  lr_on_device_ = torch::zeros({}, options);
  prepare_device_step(param_groups().front().options().get_lr());
}

void FusedOptimizer::prepare_device_step(double lr) {
  VIT_CHECK(device_scalars(), "fused optimizer: device scalars are not in use");
  adopt();  // (a resume may have loaded other state and step counts)
  torch::NoGradGuard no_grad;
  step_on_device_.fill_(static_cast<double>(steps_));
  lr_on_device_.fill_(lr);
}

void FusedOptimizer::device_step() {
  torch::NoGradGuard no_grad;
  const double wd = config_.weight_decay;
  const torch::Tensor& lr = lr_on_device_;
  step_on_device_.add_(1);
  if (config_.name == OptimName::kSgd) {
    torch::Tensor d = wd != 0 ? gradients_.add(flat_, wd) : gradients_;
    if (config_.momentum != 0) {
      first_.mul_(config_.momentum).add_(d);
      d = first_;
    }
    flat_.sub_(d * lr);
    return;
  }
  const bool decoupled = config_.name == OptimName::kAdamW;
  if (decoupled && wd != 0) flat_.mul_(1 - lr * wd);
  const torch::Tensor grad = !decoupled && wd != 0 ? gradients_.add(flat_, wd) : gradients_;
  first_.mul_(config_.beta1).add_(grad, 1 - config_.beta1);
  second_.mul_(config_.beta2).addcmul_(grad, grad, 1 - config_.beta2);
  // Bias corrections from the device's step count (float64 0-dim tensors: no host value).
  const torch::Tensor bias1 = 1 - torch::pow(config_.beta1, step_on_device_);
  const torch::Tensor bias2 = 1 - torch::pow(config_.beta2, step_on_device_);
  const torch::Tensor denom = (second_.sqrt() / bias2.sqrt()).add_(1e-8);
  flat_.sub_(first_ / denom * (lr / bias1));
}

void FusedOptimizer::count_device_step() {
  ++steps_;
  update_states();
}

void FusedOptimizer::step_cpu(double lr, double bias1, double bias2) {
  float* p = flat_.data_ptr<float>();
  const float* g = gradients_.data_ptr<float>();
  float* m = first_.data_ptr<float>();
  const int64_t n = flat_.numel();
  if (config_.name == OptimName::kSgd) {
    float* buf = config_.momentum != 0 ? m : nullptr;
    at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
      sgd_range(p + begin, g + begin, buf != nullptr ? buf + begin : nullptr, end - begin,
                static_cast<float>(lr), static_cast<float>(config_.weight_decay),
                static_cast<float>(config_.momentum));
    });
    return;
  }
  const bool decoupled = config_.name == OptimName::kAdamW;
  const AdamScalars s{static_cast<float>(config_.beta1),
                      static_cast<float>(config_.beta2),
                      static_cast<float>(1 - config_.beta1),
                      static_cast<float>(1 - config_.beta2),
                      decoupled ? 0.0F : static_cast<float>(config_.weight_decay),
                      decoupled ? static_cast<float>(1 - lr * config_.weight_decay) : 1.0F,
                      static_cast<float>(lr / bias1),
                      static_cast<float>(std::sqrt(bias2)),
                      static_cast<float>(1e-8)};
  float* v = second_.data_ptr<float>();
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    adam_range(p + begin, g + begin, m + begin, v + begin, end - begin, s);
  });
}

void FusedOptimizer::step_tensors(double lr, double bias1, double bias2) {
  const double wd = config_.weight_decay;
  if (config_.name == OptimName::kSgd) {
    torch::Tensor d = wd != 0 ? gradients_.add(flat_, wd) : gradients_;
    if (config_.momentum != 0) {
      first_.mul_(config_.momentum).add_(d);
      d = first_;
    }
    flat_.add_(d, -lr);
    return;
  }
  const bool decoupled = config_.name == OptimName::kAdamW;
  if (decoupled && wd != 0) flat_.mul_(1 - lr * wd);
  const torch::Tensor grad = !decoupled && wd != 0 ? gradients_.add(flat_, wd) : gradients_;
  first_.mul_(config_.beta1).add_(grad, 1 - config_.beta1);
  second_.mul_(config_.beta2).addcmul_(grad, grad, 1 - config_.beta2);
  const torch::Tensor denom = (second_.sqrt() / std::sqrt(bias2)).add_(1e-8);
  flat_.addcdiv_(first_, denom, -lr / bias1);
}

}  // namespace vit
