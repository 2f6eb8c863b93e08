// The attention of the model's last block at the class token alone: token 0's one query over
// every token's keys and values, from the block's normalised input.
//
// The head reads the class token only, so the last block needs its attention output at token 0
// (model/vit.cpp): q from token 0's row, k and v from every row, through the qkv projection's
// weight and bias; softmax(q k^T * scale) v per head, heads merged. With LibTorch's operators
// that is a product per projection on narrowed weights, element-wise products and sums per head,
// and, in the backward pass, nodes that each write a zero-filled copy of a whole tensor (the
// slices of the weight, of the bias and of the k | v output, the select of token 0) before the
// pieces are added up: per micro-batch pass. On float32 CPU tensors one autograd Function does it
// instead, with its own products (model/linear.h's sgemm) and its own backward pass, which writes
// the gradients of the input, the whole weight and the whole bias once.
#pragma once

#include <torch/torch.h>

#include "config/choices.h"  // AttentionKernel

namespace vit {

// Whether class_token_attention runs the Function: float32 CPU tensors, CPU autocast off (under
// autocast the projections are LibTorch's, in bfloat16), and a kernel choice other than matmul
// (which keeps LibTorch's operators: the reference formulation).
bool use_class_token_kernel(const torch::Tensor& x, const torch::Tensor& weight,
                            AttentionKernel kernel);

// x (N, T, D): the block's normalised tokens; weight (3D, D) and bias (3D): the qkv
// projection's, q's rows [0, D), k's [D, 2D) and v's [2D, 3D); n_heads heads of D / n_heads
// columns each. Returns the heads' outputs at token 0, merged: (N, D), what the qkv projection
// and the attention of model/attention.h give at token 0. Differentiable in x, weight and bias.
torch::Tensor class_token_attention(const torch::Tensor& x, const torch::Tensor& weight,
                                    const torch::Tensor& bias, int64_t n_heads, double scale,
                                    AttentionKernel kernel);

}  // namespace vit
