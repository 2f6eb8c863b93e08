// Steps 4 and 5: a pre-norm encoder block, x + MSA(LN(x)) then x + MLP(LN(x)).
#pragma once

#include <torch/torch.h>

#include "model/attention.h"
#include "model/mlp.h"

namespace vit {

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(int64_t dim, int64_t n_heads, int64_t mlp_ratio,
            AttentionKernel kernel = AttentionKernel::kAuto);

  // (N, T, dim) -> (N, T, dim)
  torch::Tensor forward(torch::Tensor x);
  // (N, T, dim) -> (N, dim): forward(x).select(1, 0), the class token's output, computed for
  // that token alone after the attention (whose keys and values need every token).
  torch::Tensor forward_class_token(const torch::Tensor& x);

  Attention& attention() { return attention_; }

 private:
  torch::nn::LayerNorm norm1_{nullptr};
  Attention attention_{nullptr};
  torch::nn::LayerNorm norm2_{nullptr};
  Mlp mlp_{nullptr};
};
TORCH_MODULE(Block);

}  // namespace vit
