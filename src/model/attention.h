// Multi-head self-attention, all heads at once: one qkv projection, softmax(q k^T / sqrt(hd)) v
// per head (the fused CPU kernel of model/fused_attention.h, or batched matrix products), and an
// output projection.
#pragma once

#include <torch/torch.h>

namespace vit {

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t dim, int64_t n_heads);

  // (N, T, dim) -> (N, T, dim)
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t n_heads_;
  double scale_;  // 1 / sqrt(head dimension)
  torch::nn::Linear qkv_{nullptr};
  torch::nn::Linear out_{nullptr};
};
TORCH_MODULE(Attention);

}  // namespace vit
