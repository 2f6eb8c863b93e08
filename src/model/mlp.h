// The feed-forward half of an encoder block: hidden_d -> ratio * hidden_d -> hidden_d with GELU.
#pragma once

#include <torch/torch.h>

namespace vit {

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t dim, int64_t hidden);

  // (..., dim) -> (..., dim), plus `residual` of that shape where it is defined (the block's
  // residual connection, added by the second layer: model/linear.h).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual = torch::Tensor());

 private:
  torch::nn::Linear fc1_{nullptr};
  torch::nn::Linear fc2_{nullptr};
};
TORCH_MODULE(Mlp);

}  // namespace vit
