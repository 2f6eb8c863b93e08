// The model's linear layers, y = x W^T + b, with their products through oneDNN's sgemm on the CPU.
//
// Debian's LibTorch 1.13 multiplies through OpenBLAS, which is slow on the shapes a ViT's layers
// have: thousands of token rows by a width of 64 to 192. Measured on one core of an AVX2 EPYC,
// the forward product of mnist-small's qkv layer (6400 x 64 by 64 x 192) ran at 59 GFLOP/s
// through LibTorch and at 91 through oneDNN, a training step's twelve products per block at
// 18.3 ms against 14.1, and at two threads 14.2 against 8.2 (OpenBLAS hardly used the second
// core). oneDNN (Debian's libdnnl, which Debian's LibTorch itself links) is compiled in where
// the build found it (CMake's VIT_DNNL); elsewhere, and for GPU, non-float32 or autocast tensors,
// these are LibTorch's own linear layer and its autograd.
#pragma once

#include <torch/torch.h>

#include <string>

namespace vit {

// Whether this build multiplies through oneDNN at all (VIT_DNNL).
bool dnnl_linear_built();

// What multiplies the linear layers on the CPU, for --version: "oneDNN 2.6.3" (the library
// loaded), or LibTorch where oneDNN is not built in.
std::string linear_library();

// Whether `linear` runs through oneDNN for x and weight: built with it, both float32 CPU tensors,
// and CPU autocast off (under autocast LibTorch's layer runs, in bfloat16).
bool use_dnnl_linear(const torch::Tensor& x, const torch::Tensor& weight);

// Row-major c (m x n, rows ldc floats apart) = op(a) op(b) + beta c, op(p) being p's transpose
// where its trans_* is 'T' (BLAS's sgemm in row-major terms, alpha 1; beta 0 does not read c):
// oneDNN's where the build has it, LibTorch's addmm elsewhere. Not differentiable: for the autograd
// Functions that run their own products (this file's, model/class_token_attention).
void sgemm(char trans_a, char trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// x (..., in) times weight (out, in) transposed, plus bias (out) where it is defined (an
// undefined tensor for none): (..., out), what torch::nn::functional::linear returns;
// differentiable in all three.
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias);

// The same for a layer's own weight and bias (its module's parameters, so names, checkpoints
// and exports are those of torch::nn::Linear).
torch::Tensor linear(const torch::Tensor& x, const torch::nn::Linear& layer);

// residual + linear(x, layer), residual being of the output's shape (undefined: none): the
// blocks' residual connections. Through oneDNN the product adds to residual + bias, written as
// its starting value, instead of to the bias alone followed by an addition of its own.
torch::Tensor linear(const torch::Tensor& x, const torch::nn::Linear& layer,
                     const torch::Tensor& residual);

}  // namespace vit
