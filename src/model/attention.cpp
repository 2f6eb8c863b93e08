#include "model/attention.h"

#include <cmath>

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

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  const auto qkv = linear(x, qkv_);
  return linear(uses_fused(qkv) ? fused_attention(qkv, n_heads_, scale_)
                                : matmul_attention(qkv, n_heads_, scale_),
                out_);
}

namespace {

// One query per image over its T keys and values, per head: q (N, D), k and v (N, T, D) views
// whose rows may be strided -> softmax(q k^T * scale) v with the heads merged, (N, D). Element-wise
// products and sums: a head's scores are T dot products, too few for matrix kernels.
torch::Tensor one_query_attention(const torch::Tensor& q, const torch::Tensor& k,
                                  const torch::Tensor& v, int64_t n_heads, double scale) {
  const int64_t n = k.size(0), tokens = k.size(1), d = k.size(2), hd = d / n_heads;
  // Under autocast the projections are bfloat16: the products and sums run in float32 here, as a
  // matrix product accumulates, and the result returns in the projections' type.
  const auto wide = [](const torch::Tensor& t) { return t.to(torch::kFloat32); };
  const auto scores =
      (wide(q).view({n, 1, n_heads, hd}) * wide(k).view({n, tokens, n_heads, hd})).sum(-1);
  const auto weights = torch::softmax(scores * scale, /*dim=*/1);  // (N, T, heads)
  const auto out = (weights.unsqueeze(-1) * wide(v).view({n, tokens, n_heads, hd})).sum(1);
  return out.reshape({n, d}).to(q.scalar_type());
}

}  // namespace

torch::Tensor AttentionImpl::forward_class_token(const torch::Tensor& x) {
  VIT_CHECK(x.dim() == 3 && x.size(1) > 0, "attention: the class token of a batch of ", x.sizes());
  const int64_t d = x.size(-1);
  // The qkv projection's rows: q's are [0, d), k's and v's [d, 3d).
  const auto& weight = qkv_->weight;
  const auto& bias = qkv_->bias;
  const auto q =
      linear(x.select(/*dim=*/1, /*index=*/0), weight.narrow(0, 0, d), bias.narrow(0, 0, d));
  const auto kv = linear(x, weight.narrow(0, d, 2 * d), bias.narrow(0, d, 2 * d));
  return linear(one_query_attention(q, kv.narrow(-1, 0, d), kv.narrow(-1, d, d), n_heads_, scale_),
                out_);
}

}  // namespace vit
