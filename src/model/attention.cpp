#include "model/attention.h"

#include <cmath>

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
  const int64_t n = x.size(0), t = x.size(1), d = x.size(2);
  // (N, T, 3D) -> (3, N, heads, T, head_dim)
  auto qkv = qkv_->forward(x).reshape({n, t, 3, n_heads_, d / n_heads_}).permute({2, 0, 3, 1, 4});
  auto q = qkv[0], k = qkv[1], v = qkv[2];
  auto weights = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * scale_, /*dim=*/-1);
  // (N, heads, T, head_dim) -> (N, T, D)
  auto mixed = torch::matmul(weights, v).transpose(1, 2).reshape({n, t, d});
  return out_->forward(mixed);
}

}  // namespace vit
