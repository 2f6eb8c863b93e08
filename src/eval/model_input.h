// A user's image made into what the model was trained on: an MNIST-like uint8 image of the
// model's size, white (high values) on black. vit-predict then scales it with to_float_images,
// the data set's own normalisation, so a test-set image saved as a PNG scores exactly as in
// vit-eval.
#pragma once

#include <torch/torch.h>

#include <string>

#include "eval/png_read.h"
#include "model/vit.h"

namespace vit {

// Whether the image is inverted (255 - v): MNIST digits are bright on a dark background.
enum class Invert {
  kAuto,  // when the mean of the image's outermost pixels (its border) is above 127.5: a light
          // background, as in a dark digit drawn or scanned on white paper
  kYes,
  kNo,
};

// "auto" | "yes" | "no"; throws vit::Error naming `option` otherwise.
Invert parse_invert(const std::string& text, const std::string& option);

struct ModelImage {
  torch::Tensor image;    // (channels, height, width) uint8, the model's shape
  bool inverted = false;  // whether 255 - v was applied
  bool resized = false;   // whether the image had another size than the model's
};

// Mean of the outermost ring of pixels, all channels: the background's brightness.
double border_mean(const PixelImage& image);

// Pads `image` to the model's aspect ratio with its border mean (centred, so a digit keeps its
// proportions), resizes it by area averaging (each output pixel the mean of the input area it
// covers, fractional pixels weighted by their overlap; the identity at equal sizes, a plain
// 2x2 mean at half size), rounds to uint8 and inverts it as `invert` says. `image.channels` must
// be `shape.channels`.
ModelImage to_model_image(const PixelImage& image, const ImageShape& shape, Invert invert);

// (n_out, n_in) weights of area averaging along one axis: row i holds the overlap of input pixel
// j with output pixel i's span [i * n_in / n_out, (i + 1) * n_in / n_out), divided by its length.
torch::Tensor area_weights(int64_t n_in, int64_t n_out);

}  // namespace vit
