// Fused multi-head self-attention for the CPU, with its own backward pass (an autograd Function).
//
// The ViT's heads are tiny (the seed model: 50 tokens, head width 4), so the matmul formulation
// spends its time in batched products of 50x4 by 4x50 matrices, a softmax and the copies that
// permute q, k and v into place. Here one task is a head of a block of 16 images, computed as
// 16-wide vectors with one image per lane: q, k and v are gathered from the qkv projection's
// output, the 50x50 attention weights are computed, normalised with a vectorised exp and applied
// with every accumulator in registers, and the result is scattered into the merged-heads layout
// the output projection wants. The backward pass works from the weights the forward pass saved.
// Tasks run in parallel on LibTorch's intra-op threads; the loops are compiled for AVX-512, AVX2
// and a plain fallback chosen at run time. Heads up to 64 wide.
#pragma once

#include <torch/torch.h>

#include <string>

#include "config/choices.h"  // AttentionKernel

namespace vit {

// Which attention kernel a model uses (train.attention), a property of each model (its
// attention modules hold it): auto picks fused for float32 CPU tensors and the matmul
// formulation elsewhere (GPU, other types, heads over 64 wide); fused falls back to matmul where
// it cannot run. (The enum is the key's: config/choices.h.)

AttentionKernel parse_attention_kernel(const std::string& name);  // "auto" | "fused" | "matmul"

// Whether the fused kernel takes `qkv` of `n_heads` heads under the choice `kernel`.
bool use_fused_attention(const torch::Tensor& qkv, int64_t n_heads, AttentionKernel kernel);

// qkv: (N, T, 3D), the output of the qkv projection, q | k | v along the last dimension with
// each split into `n_heads` consecutive head slices. Returns softmax(q k^T * scale) v per head,
// heads merged: (N, T, D). Differentiable with respect to qkv.
torch::Tensor fused_attention(const torch::Tensor& qkv, int64_t n_heads, double scale);

// The same computed with LibTorch's batched matrix products (the reference).
torch::Tensor matmul_attention(const torch::Tensor& qkv, int64_t n_heads, double scale);

}  // namespace vit
