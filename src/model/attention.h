// Multi-head self-attention, all heads at once: one qkv projection, softmax(q k^T / sqrt(hd)) v
// per head (the fused CPU kernel of model/fused_attention.h, or batched matrix products), and an
// output projection.
#pragma once

#include <torch/torch.h>

#include "model/fused_attention.h"  // AttentionKernel

namespace vit {

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t dim, int64_t n_heads, AttentionKernel kernel = AttentionKernel::kAuto);

  // (N, T, dim) -> (N, T, dim), plus `residual` of that shape where it is defined (the block's
  // residual connection, added by the output projection: model/linear.h).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual = torch::Tensor());
  // (N, T, dim) -> (N, dim): the output at the class token (token 0) alone, its one query over
  // every token's keys and values; what forward(x).select(1, 0) computes, without the other
  // tokens' queries, weights and outputs (the model's last block, whose other tokens nothing
  // reads). Plus `residual` (N, dim) where it is defined.
  torch::Tensor forward_class_token(const torch::Tensor& x,
                                    const torch::Tensor& residual = torch::Tensor());

  AttentionKernel kernel() const { return kernel_; }
  // Whether forward() runs the fused kernel on `qkv` (the kernel choice and the tensor decide).
  bool uses_fused(const torch::Tensor& qkv) const;

 private:
  int64_t n_heads_;
  AttentionKernel kernel_;
  double scale_;  // 1 / sqrt(head dimension)
  torch::nn::Linear qkv_{nullptr};
  torch::nn::Linear out_{nullptr};
};
TORCH_MODULE(Attention);

}  // namespace vit
