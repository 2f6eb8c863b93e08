// FlatGradients: every parameter's gradient is a view into one contiguous buffer, so a training
// step reduces all gradients with a single all-reduce call and no packing or unpacking copies.
// Autograd accumulates into existing gradients in place, which keeps the views alive; the
// buffer is zeroed here instead of through the optimizer, whose zero_grad may drop gradients.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace vit {

class FlatGradients {
 public:
  // Points the .grad of each parameter (all on one device, one dtype) into a fresh buffer, with
  // one more element at its end: the step's loss, so that the step's one all-reduce also gives
  // every rank the same view of whether the loss and the gradients are finite.
  explicit FlatGradients(std::vector<torch::Tensor> parameters);

  // The gradients and the loss slot: what the step all-reduces.
  torch::Tensor& buffer() { return buffer_; }
  // The gradients alone, and the loss slot (a 0-dim view).
  torch::Tensor gradients() const { return buffer_.narrow(0, 0, buffer_.numel() - 1); }
  torch::Tensor loss_slot() const { return buffer_[buffer_.numel() - 1]; }
  void zero() { buffer_.zero_(); }

  // True when every parameter's gradient still lives in the buffer (tests, debug checks).
  bool intact() const;

 private:
  std::vector<torch::Tensor> parameters_;
  torch::Tensor buffer_;
};

}  // namespace vit
