// LayerNorm over the last dimension for the CPU, with its own backward pass (an autograd
// Function).
//
// LibTorch 1.13's CPU LayerNorm spends about 60 ns per row on rows of 8 floats (measured: 17% of
// the seed model's step on one thread), more than the row's arithmetic by far. Here each task
// normalises a chunk of rows with loops the compiler vectorises, keeping each row's mean and
// 1/std for the backward pass, which recomputes the normalised row from them and sums the scale
// and shift gradients per chunk (the chunks in order: the result does not depend on the number
// of threads). Same formula as torch::layer_norm: biased variance, eps inside the square root.
#pragma once

#include <torch/torch.h>

namespace vit {

// Whether the fused kernel takes `x` for `norm`: a float32 CPU tensor normalised over its last
// dimension, with a scale and a shift.
bool use_fused_layer_norm(const torch::Tensor& x, const torch::nn::LayerNorm& norm);

// norm(x): the fused kernel where use_fused_layer_norm(x, norm), the module's own elsewhere.
torch::Tensor layer_norm(const torch::Tensor& x, const torch::nn::LayerNorm& norm);

}  // namespace vit
