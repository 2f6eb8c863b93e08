// Mixed precision (train.precision): bf16 runs the matrix products of the forward pass (and so
// of the backward pass, which follows the forward's types) in bfloat16 under LibTorch's autocast,
// while the parameters, their gradients, the optimizer and the loss stay float32: the usual
// "fp32 master weights" recipe, which needs no loss scaling for bfloat16 (float32's exponent).
#pragma once

#include <torch/torch.h>

#include <string>

#include "config/choices.h"  // Precision

namespace vit {

Precision parse_precision(const std::string& name);  // "fp32" | "bf16"

// Whether this thread runs under autocast on devices of `type` (LibTorch 1.13's and 2.x's calls).
bool autocast_enabled(torch::DeviceType type);

// Autocast to bfloat16 on `device`'s type for the lifetime of the scope when `precision` is bf16,
// on this thread only (autocast is thread-local: each worker thread of a batch-parallel step
// opens its own). Its cache of cast weights is off: a step reads each weight once, and a cache
// would keep casts from before the optimizer step (and cannot live inside a CUDA graph capture).
// Restores the thread's previous settings on exit.
class AutocastScope {
 public:
  AutocastScope(torch::Device device, Precision precision);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  torch::DeviceType device_type_ = torch::kCPU;
  bool was_enabled_ = false;
  bool was_caching_ = true;
  torch::ScalarType old_type_ = torch::kFloat32;
};

}  // namespace vit
