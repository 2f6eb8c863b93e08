// MNIST's own preparation applied to a user's photo or scan of one digit, so that the model sees
// what it was trained on: ink bright on a background of exactly 0, the digit cropped, fitted into
// a 20x20 box keeping its aspect ratio (area averaged), and placed in the 28x28 frame with its
// centre of mass at the frame's centre (LeCun et al.'s description of MNIST). Sizes scale with
// the model's frame (20/28 of each side). Everything is measured on the image itself: which side
// is ink, the paper's level and noise, the ink's level, where the digit is. Plus the checks that
// say when the result is still far from the training images.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "eval/model_input.h"  // Invert
#include "eval/png_read.h"     // PixelImage
#include "model/vit.h"         // ImageShape

namespace vit {

struct DigitBox {
  int64_t x = 0, y = 0, width = 0, height = 0;  // in the input image's pixels
};

struct PreparedDigit {
  torch::Tensor image;      // (1, height, width) uint8, the model's frame
  bool found = false;       // whether a digit was found (else `image` is all 0)
  bool inverted = false;    // whether the input's ink was dark (so 255 - v was taken)
  DigitBox box;             // the digit's box in the input
  double paper = 0;         // the background's level after inversion (0-255)
  double noise = 0;         // the background's noise (robust standard deviation, 0-255)
  double ink = 0;           // the ink's level after inversion (0-255)
  // One line per way the prepared image is still unlike MNIST's (empty: nothing seen), e.g. a
  // digit only a few pixels tall, low contrast, a background that is not plain.
  std::vector<std::string> warnings;
};

// Prepares the one digit in `image` (any size and channel count; colour is averaged to gray) for
// a model of `shape` (1 channel). `invert`: kAuto decides from the image which side is ink (the
// tail of its histogram farther from the border's level), kYes/kNo force it. When no digit
// stands out of the background, returns found = false with a warning and an all-0 image.
PreparedDigit prepare_digit(const PixelImage& image, const ImageShape& shape, Invert invert);

}  // namespace vit
