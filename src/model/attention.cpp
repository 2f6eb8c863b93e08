#include "model/attention.h"

#include <cmath>

#include "model/fused_attention.h"
#include "util/error.h"

namespace vit {

AttentionImpl::AttentionImpl(int64_t dim, int64_t n_heads) : n_heads_(n_heads) {
  VIT_CHECK(n_heads > 0 && dim % n_heads == 0, "attention: dimension ", dim,
            " is not divisible by ", n_heads, " heads");
  scale_ = 1.0 / std::sqrt(static_cast<double>(dim / n_heads));
  qkv_ = register_module("qkv", torch::nn::Linear(dim, 3 * dim));
  out_ = register_module("out", torch::nn::Linear(dim, dim));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  const auto qkv = qkv_->forward(x);
  return out_->forward(use_fused_attention(qkv, n_heads_)
                           ? fused_attention(qkv, n_heads_, scale_)
                           : matmul_attention(qkv, n_heads_, scale_));
}

}  // namespace vit
