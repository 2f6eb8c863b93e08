#include "eval/model_input.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "util/error.h"

namespace vit {

Invert parse_invert(const std::string& text, const std::string& option) {
  if (text == "auto") return Invert::kAuto;
  if (text == "yes") return Invert::kYes;
  if (text == "no") return Invert::kNo;
  VIT_FAIL(option, ": '", text, "' (allowed: auto, yes, no)");
}

double border_mean(const PixelImage& image) {
  double sum = 0;
  int64_t count = 0;
  for (int64_t y = 0; y < image.height; ++y) {
    const bool edge_row = y == 0 || y == image.height - 1;
    for (int64_t x = 0; x < image.width; ++x) {
      if (!edge_row && x != 0 && x != image.width - 1) continue;
      for (int64_t c = 0; c < image.channels; ++c) sum += image.at(x, y, c);
      count += image.channels;
    }
  }
  return count == 0 ? 0.0 : sum / static_cast<double>(count);
}

torch::Tensor area_weights(int64_t n_in, int64_t n_out) {
  VIT_CHECK(n_in > 0 && n_out > 0, "area weights of ", n_in, " -> ", n_out, " pixels");
  auto weights = torch::zeros({n_out, n_in}, torch::kFloat64);
  auto w = weights.accessor<double, 2>();
  const double span = static_cast<double>(n_in) / static_cast<double>(n_out);
  for (int64_t i = 0; i < n_out; ++i) {
    const double low = static_cast<double>(i) * span, high = low + span;
    const auto first = static_cast<int64_t>(std::floor(low));
    const auto last = std::min(n_in - 1, static_cast<int64_t>(std::ceil(high)) - 1);
    for (int64_t j = first; j <= last; ++j) {
      const double overlap =
          std::min(high, static_cast<double>(j + 1)) - std::max(low, static_cast<double>(j));
      if (overlap > 0) w[i][j] = overlap / span;
    }
  }
  return weights;
}

ModelImage to_model_image(const PixelImage& image, const ImageShape& shape, Invert invert) {
  VIT_CHECK(image.channels == shape.channels, "an image of ", image.channels,
            " channels for a model of ", shape.channels);
  VIT_CHECK(image.width > 0 && image.height > 0, "an image of ", image.width, "x", image.height,
            " pixels");
  ModelImage out;
  const double background = border_mean(image);
  out.inverted = invert == Invert::kYes || (invert == Invert::kAuto && background > 127.5);
  out.resized = image.width != shape.width || image.height != shape.height;

  // (C, H, W) as the model holds images.
  torch::Tensor pixels =
      torch::from_blob(const_cast<uint8_t*>(image.samples.data()),
                       {image.height, image.width, image.channels}, torch::kUInt8)
          .permute({2, 0, 1})
          .contiguous();
  if (out.resized) {
    // Padding to the model's aspect ratio (width / height), centred, with the background.
    const int64_t padded_width =
        std::max(image.width, (image.height * shape.width + shape.height - 1) / shape.height);
    const int64_t padded_height =
        std::max(image.height, (image.width * shape.height + shape.width - 1) / shape.width);
    auto padded =
        torch::full({image.channels, padded_height, padded_width}, background, torch::kFloat64);
    const int64_t top = (padded_height - image.height) / 2;
    const int64_t left = (padded_width - image.width) / 2;
    padded.narrow(1, top, image.height).narrow(2, left, image.width).copy_(pixels);
    // Separable area average: rows (H, h) x image (C, h, w) x columns (w, W).
    const auto rows = area_weights(padded_height, shape.height);
    const auto columns = area_weights(padded_width, shape.width).t();
    const auto resized = torch::matmul(torch::matmul(rows, padded), columns);
    pixels = resized.round().clamp(0, 255).to(torch::kUInt8);
  }
  if (out.inverted) pixels = 255 - pixels;
  out.image = pixels.contiguous();
  return out;
}

}  // namespace vit
