#include "model/mlp.h"

#include "model/fused_gelu.h"

namespace vit {

MlpImpl::MlpImpl(int64_t dim, int64_t hidden) {
  fc1_ = register_module("fc1", torch::nn::Linear(dim, hidden));
  fc2_ = register_module("fc2", torch::nn::Linear(hidden, dim));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  // On the CPU the first layer's bias is added by the fused GELU (model/fused_gelu.h); elsewhere
  // (GPUs, autocast) by the layer's own product, as LibTorch fuses it there.
  if (!use_fused_gelu(x)) return fc2_->forward(torch::gelu(fc1_->forward(x)));
  return fc2_->forward(bias_gelu(torch::matmul(x, fc1_->weight.t()), fc1_->bias));
}

}  // namespace vit
