// GELU after a linear layer, fused for the CPU with the layer's bias, with its own backward pass
// (an autograd Function).
//
// LibTorch runs the MLP's first layer as a product, a pass adding the bias, a GELU pass, and in
// the backward pass a GELU-gradient pass (erf and exp again for every element) and a pass summing
// the bias gradient. Here one forward pass adds the bias and computes GELU and its derivative
// together (one exp serves both), keeping the derivative instead of the input; the backward pass
// multiplies by it and sums the bias gradient in the same sweep. The exact (erf) GELU, as
// torch::gelu computes it: erf by Abramowitz and Stegun 7.1.26 (absolute error under 1.5e-7,
// the formula LibTorch's vectorised erf uses too).
#pragma once

#include <torch/torch.h>

namespace vit {

// Whether bias_gelu's fused kernel takes `h`: a float32 CPU tensor.
bool use_fused_gelu(const torch::Tensor& h);

// gelu(h + bias) for h (..., C) and bias (C); differentiable in both. Runs the fused kernel where
// use_fused_gelu(h), LibTorch's add and gelu elsewhere.
torch::Tensor bias_gelu(const torch::Tensor& h, const torch::Tensor& bias);

}  // namespace vit
