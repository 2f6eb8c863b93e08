#include "model/patch_embed.h"

#include "model/linear.h"
#include "util/error.h"

namespace vit {

torch::Tensor patchify(const torch::Tensor& images, int64_t n_patches) {
  VIT_CHECK(images.dim() == 4, "patchify: expected (N, C, H, W) images, got ", images.sizes());
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t ph = (h + n_patches - 1) / n_patches;  // patch height after padding
  const int64_t pw = (w + n_patches - 1) / n_patches;
  torch::Tensor x = images;
  if (ph * n_patches != h || pw * n_patches != w) {
    // F.pad order is (left, right, top, bottom) for the last two dimensions.
    x = torch::constant_pad_nd(x, {0, pw * n_patches - w, 0, ph * n_patches - h}, 0);
  }
  // (N, C, gy, ph, gx, pw) -> (N, gy, gx, C, ph, pw) -> (N, gy*gx, C*ph*pw)
  return x.reshape({n, c, n_patches, ph, n_patches, pw})
      .permute({0, 2, 4, 1, 3, 5})
      .reshape({n, n_patches * n_patches, c * ph * pw});
}

PatchEmbedImpl::PatchEmbedImpl(int64_t n_patches, int64_t patch_dim, int64_t hidden_d)
    : n_patches_(n_patches) {
  linear_ = register_module("linear", torch::nn::Linear(patch_dim, hidden_d));
  // The tutorial draws the class token uniformly from [0, 1).
  class_token_ = register_parameter("class_token", torch::rand({1, 1, hidden_d}));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& images) {
  auto tokens = linear(patchify(images, n_patches_), linear_);  // (N, P, hidden_d)
  auto cls = class_token_.expand({tokens.size(0), 1, tokens.size(2)});
  return torch::cat({cls, tokens}, /*dim=*/1);  // (N, 1 + P, hidden_d)
}

}  // namespace vit
