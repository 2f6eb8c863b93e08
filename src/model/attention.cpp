#include "model/attention.h"

#include <cmath>

#include "model/class_token_attention.h"
#include "model/fused_attention.h"
#include "model/linear.h"
#include "util/error.h"

namespace vit {

AttentionImpl::AttentionImpl(int64_t dim, int64_t n_heads, AttentionKernel kernel)
    : n_heads_(n_heads), kernel_(kernel) {
  VIT_CHECK(n_heads > 0 && dim % n_heads == 0, "attention: dimension ", dim,
            " is not divisible by ", n_heads, " heads");
  scale_ = 1.0 / std::sqrt(static_cast<double>(dim / n_heads));
  qkv_ = register_module("qkv", torch::nn::Linear(dim, 3 * dim));
  out_ = register_module("out", torch::nn::Linear(dim, dim));
}

bool AttentionImpl::uses_fused(const torch::Tensor& qkv) const {
  return use_fused_attention(qkv, n_heads_, kernel_);
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& residual) {
  const auto qkv = linear(x, qkv_);
  return linear(uses_fused(qkv) ? fused_attention(qkv, n_heads_, scale_)
                                : matmul_attention(qkv, n_heads_, scale_),
                out_, residual);
}

torch::Tensor AttentionImpl::forward_class_token(const torch::Tensor& x,
                                                 const torch::Tensor& residual) {
  return linear(class_token_attention(x, qkv_->weight, qkv_->bias, n_heads_, scale_, kernel_), out_,
                residual);
}

}  // namespace vit
