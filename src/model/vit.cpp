#include "model/vit.h"

#include "model/linear.h"
#include "model/positional.h"
#include "util/error.h"

namespace vit {

VisionTransformerImpl::VisionTransformerImpl(const ModelConfig& config, ImageShape image,
                                             int64_t num_classes, AttentionKernel attention)
    : image_(image), attention_(attention) {
  VIT_CHECK(config.hidden_d % config.n_heads == 0, "model.hidden_d: ", config.hidden_d,
            " is not divisible by model.n_heads = ", config.n_heads);
  const int64_t n = config.n_patches;
  const int64_t patch_dim =
      image.channels * ((image.height + n - 1) / n) * ((image.width + n - 1) / n);
  patch_embed_ = register_module("patch_embed", PatchEmbed(n, patch_dim, config.hidden_d));
  positions_ = register_buffer("positions", sincos_positions(1 + n * n, config.hidden_d));
  for (int64_t i = 0; i < config.n_blocks; ++i) {
    blocks_->push_back(Block(config.hidden_d, config.n_heads, config.mlp_ratio, attention));
  }
  register_module("blocks", blocks_);
  head_ = register_module("head", torch::nn::Linear(config.hidden_d, num_classes));
}

torch::Tensor VisionTransformerImpl::embed(const torch::Tensor& images) {
  VIT_CHECK(images.dim() == 4 && images.size(1) == image_.channels &&
                images.size(2) == image_.height && images.size(3) == image_.width,
            "model: built for images of ", image_.channels, "x", image_.height, "x",
            image_.width, ", got a batch of ", images.sizes());
  return patch_embed_->forward(images) + positions_;  // (N, T, D) + (T, D) broadcast
}

torch::Tensor VisionTransformerImpl::forward(const torch::Tensor& images) {
  auto x = embed(images);
  const size_t n = blocks_->size();
  if (n == 0) return linear(x.select(/*dim=*/1, /*index=*/0), head_);
  for (size_t i = 0; i + 1 < n; ++i) x = blocks_[i]->as<BlockImpl>()->forward(x);
  // The head reads the class token alone, so the last block computes that token's output only
  // (every token's keys and values, one query): a sixth of the products of a 4-block model.
  return linear(blocks_[n - 1]->as<BlockImpl>()->forward_class_token(x), head_);  // (N, classes)
}

VisionTransformer make_model(const TrainConfig& config, ImageShape image, int64_t num_classes) {
  return VisionTransformer(config.model, image, num_classes,
                           config.train.attention);
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

}  // namespace vit
