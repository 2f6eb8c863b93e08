// A grid of labelled images for the eye: each test image scaled up, with its true class (green)
// and the predicted one (red) written under it in a small built-in bitmap font.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "eval/png_image.h"

namespace vit {

struct GridOptions {
  int64_t columns = 10;  // images per row
  int64_t scale = 3;     // each image pixel becomes scale x scale pixels
};

// Draws `text` with its top left corner at (x, y) in the built-in 5x7 font, each font pixel
// `scale` x `scale` pixels. Knows the digits, '>' and ' '; throws vit::Error for anything else.
void draw_text(RgbImage& image, int64_t x, int64_t y, const std::string& text, Rgb color,
               int64_t scale);

// Width in pixels of `text` drawn at `scale` (glyphs 5 wide, 1 apart).
int64_t text_width(const std::string& text, int64_t scale);

// images: (k, channels, height, width) uint8; one channel is drawn grey, three as colour, others
// by their first channel. Under image i: "<truth[i]> > <predicted[i]>". No images: one empty cell.
RgbImage labelled_grid(const torch::Tensor& images, const std::vector<int64_t>& truth,
                       const std::vector<int64_t>& predicted, const GridOptions& options = {});

}  // namespace vit
