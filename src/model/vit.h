// The tutorial's Vision Transformer: patch embedding with a class token, fixed sin/cos positions,
// n_blocks pre-norm encoder blocks, and a linear head on the class token that returns logits.
#pragma once

#include <torch/torch.h>

#include "config/train_config.h"
#include "model/block.h"
#include "model/patch_embed.h"

namespace vit {

// The shape of the images a model is built for.
struct ImageShape {
  int64_t channels = 1;
  int64_t height = 28;
  int64_t width = 28;
};

class VisionTransformerImpl : public torch::nn::Module {
 public:
  // `attention`: the kernel every block's attention runs (a property of the model, so that
  // whatever scores it, the trainer or vit-eval, computes as the run that trained it did).
  VisionTransformerImpl(const ModelConfig& config, ImageShape image, int64_t num_classes,
                        AttentionKernel attention = AttentionKernel::kAuto);

  // (N, C, H, W) float images -> (N, num_classes) logits
  torch::Tensor forward(const torch::Tensor& images);

  // (N, C, H, W) -> (N, 1 + n_patches^2, hidden_d): tokens with positions added, before the blocks.
  torch::Tensor embed(const torch::Tensor& images);

  torch::nn::ModuleList blocks() const { return blocks_; }  // a handle, shares the blocks
  const torch::Tensor& positions() const { return positions_; }
  PatchEmbed& patch_embed() { return patch_embed_; }
  const ImageShape& image() const { return image_; }
  AttentionKernel attention_kernel() const { return attention_; }

 private:
  ImageShape image_;
  AttentionKernel attention_;
  PatchEmbed patch_embed_{nullptr};
  torch::Tensor positions_;  // (1 + n_patches^2, hidden_d) buffer
  torch::nn::ModuleList blocks_;
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(VisionTransformer);

// The model a run's config describes, on the CPU: config.model's shape, config.train.attention's
// kernel (the one place that reads that key for a model), for images of `image`.
VisionTransformer make_model(const TrainConfig& config, ImageShape image, int64_t num_classes);

// Number of trainable scalars.
int64_t count_parameters(const torch::nn::Module& module);

}  // namespace vit
