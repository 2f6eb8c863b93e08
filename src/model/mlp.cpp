#include "model/mlp.h"

#include "model/fused_gelu.h"
#include "model/linear.h"

namespace vit {

MlpImpl::MlpImpl(int64_t dim, int64_t hidden) {
  fc1_ = register_module("fc1", torch::nn::Linear(dim, hidden));
  fc2_ = register_module("fc2", torch::nn::Linear(hidden, dim));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x, const torch::Tensor& residual) {
  // On the CPU the first layer's bias is added by the fused GELU (model/fused_gelu.h); on GPUs by
  // the layer's own product, as LibTorch fuses it there. (Under CPU autocast the product is
  // bfloat16, and bias_gelu adds the bias and applies GELU with LibTorch's operators.)
  if (!use_fused_gelu(x)) return linear(torch::gelu(linear(x, fc1_)), fc2_, residual);
  return linear(bias_gelu(linear(x, fc1_->weight, /*bias=*/torch::Tensor()), fc1_->bias), fc2_,
                residual);
}

}  // namespace vit
