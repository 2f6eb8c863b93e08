// Steps 1 and 2 of the tutorial's ViT: cut images into patches, map each patch linearly to a token,
// and put a learned class token first.
#pragma once

#include <torch/torch.h>

namespace vit {

// (N, C, H, W) -> (N, n_patches^2, C * ph * pw), row-major over the patch grid; each patch vector
// is its (C, ph, pw) block flattened. Sides that are not a multiple of n_patches are zero-padded
// at the bottom and the right up to the next multiple, so ph = ceil(H / n_patches).
torch::Tensor patchify(const torch::Tensor& images, int64_t n_patches);

class PatchEmbedImpl : public torch::nn::Module {
 public:
  // patch_dim = C * ph * pw as patchify produces it.
  PatchEmbedImpl(int64_t n_patches, int64_t patch_dim, int64_t hidden_d);

  // (N, C, H, W) -> (N, 1 + n_patches^2, hidden_d), class token at position 0.
  torch::Tensor forward(const torch::Tensor& images);

  torch::Tensor class_token() const { return class_token_; }

 private:
  int64_t n_patches_;
  torch::nn::Linear linear_{nullptr};
  torch::Tensor class_token_;  // (1, 1, hidden_d)
};
TORCH_MODULE(PatchEmbed);

}  // namespace vit
