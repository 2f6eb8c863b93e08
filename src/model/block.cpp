#include "model/block.h"

#include "model/fused_layer_norm.h"

namespace vit {

BlockImpl::BlockImpl(int64_t dim, int64_t n_heads, int64_t mlp_ratio, AttentionKernel kernel) {
  norm1_ = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  attention_ = register_module("attention", Attention(dim, n_heads, kernel));
  norm2_ = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  mlp_ = register_module("mlp", Mlp(dim, mlp_ratio * dim));
}

// The residual connections are added by the output projections (x is their starting value).
torch::Tensor BlockImpl::forward(torch::Tensor x) {
  x = attention_->forward(layer_norm(x, norm1_), /*residual=*/x);
  return mlp_->forward(layer_norm(x, norm2_), /*residual=*/x);
}

torch::Tensor BlockImpl::forward_class_token(const torch::Tensor& x) {
  const auto token = attention_->forward_class_token(layer_norm(x, norm1_),
                                                     /*residual=*/x.select(/*dim=*/1, 0));
  return mlp_->forward(layer_norm(token, norm2_), /*residual=*/token);
}

}  // namespace vit
