// The attention of one image's head at a time, for heads a multiple of 8 wide on CPUs with AVX2
// and FMA: the kernel model/fused_attention runs there (it keeps its lane-interleaved kernel for
// narrower heads, such as the seed model's 4, and for other CPUs).
//
// One head of one image is small (mnist-small: 50 tokens of width 16, 3.2 KB per q, k or v), so
// everything a task touches stays in the L1 cache: q, k, v and the output gradient are read in
// place from the rows of the qkv projection and the output gradient, the results are written in
// place into the rows the next layer wants, and only k (or v) is copied, transposed, so that the
// products run with their accumulators in registers (rows of 4 queries by 16 keys, or by 16
// columns). The lane-interleaved kernel, 16 images at once, kept a head's k and v at 51 KB each,
// past L1, and ran at about a quarter of this core's multiply-add rate.
//
// Each image is computed alone, in a fixed order, so the results do not depend on how images are
// split over threads or steps.
#pragma once

#include <cstdint>

namespace vit {

// Whether this CPU and head width run the kernel: x86-64 with AVX2 and FMA, head_dim a multiple
// of 8 (and positive).
bool image_attention_runs(int64_t head_dim);

// Tokens rounded up to a multiple of 8: the row stride of the saved weights.
int64_t image_attention_stride(int64_t tokens);

// The shapes of one call: n images of `tokens` tokens, model width `dim`, `heads` heads.
struct ImageAttentionShape {
  int64_t images;
  int64_t tokens;
  int64_t dim;
  int64_t heads;
  float scale;  // of q k^T
};

// qkv: (n, T, 3 dim) row-major floats (q | k | v, each split into consecutive head slices).
// Writes out (n, T, dim), softmax(q k^T * scale) v per head with heads merged, and the softmax
// weights (n, heads, T, image_attention_stride(T); the padding columns 0) for the backward pass.
// Runs on LibTorch's intra-op threads. Requires image_attention_runs(dim / heads).
void image_attention_forward(const ImageAttentionShape& shape, const float* qkv, float* out,
                             float* weights);

// From qkv, the saved weights and dout (n, T, dim), the gradient of qkv into dqkv (n, T, 3 dim).
void image_attention_backward(const ImageAttentionShape& shape, const float* qkv,
                              const float* weights, const float* dout, float* dqkv);

}  // namespace vit
