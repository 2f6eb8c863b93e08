// Fused multi-head self-attention for the CPU, with its own backward pass (an autograd Function).
//
// The ViT's heads are tiny (the seed model: 50 tokens, head width 4), so the matmul formulation
// spends its time in batched products of 50x4 by 4x50 matrices, a softmax and the copies that
// permute q, k and v into place. Two kernels do the whole attention here instead:
// - heads a multiple of 8 wide on CPUs with AVX2 and FMA (mnist-small, the speedrun model): one
//   image's head at a time, read and written in place, in the L1 cache (model/image_attention);
// - other heads and CPUs (the seed model's width 4): one task is a head of a block of 16 images,
//   computed as 16-wide vectors with one image per lane: q, k and v are gathered from the qkv
//   projection's output, the 50x50 attention weights are computed, normalised with a vectorised
//   exp and applied with every accumulator in registers, and the result is scattered into the
//   merged-heads layout the output projection wants. Its loops are compiled for AVX-512, AVX2
//   and a plain fallback chosen at run time. Heads up to 64 wide.
// Both save the softmax weights for their backward pass, and run their tasks in parallel on
// LibTorch's intra-op threads.
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
