#include "eval/digit_prep.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "util/error.h"

namespace vit {
namespace {

using Plane = std::vector<float>;  // one gray value per pixel, row-major

// Share of the digit box in the frame, and where MNIST puts the centre of mass: 20 of 28 pixels.
constexpr double kBoxShare = 20.0 / 28.0;

Plane to_gray(const PixelImage& image) {
  Plane gray(static_cast<size_t>(image.width * image.height));
  const auto channels = static_cast<size_t>(image.channels);
  for (size_t i = 0; i < gray.size(); ++i) {
    float sum = 0;
    for (size_t c = 0; c < channels; ++c) sum += image.samples[i * channels + c];
    gray[i] = sum / static_cast<float>(channels);
  }
  return gray;
}

// The q-quantile (0..1) of `values` (a copy is reordered).
float quantile(Plane values, double q) {
  if (values.empty()) return 0;
  const auto k = static_cast<size_t>(std::lround(q * static_cast<double>(values.size() - 1)));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

// The pixels within `ring` of the edge: the paper, unless the digit touches the edge.
Plane border(const Plane& gray, int64_t width, int64_t height, int64_t ring) {
  Plane out;
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x) {
      if (x < ring || y < ring || x >= width - ring || y >= height - ring) {
        out.push_back(gray[static_cast<size_t>(y * width + x)]);
      }
    }
  }
  return out;
}

// Mean over the (2r+1)^2 square around each pixel (clipped at the edges), by an integral image.
Plane box_blur(const Plane& plane, int64_t width, int64_t height, int64_t r) {
  std::vector<double> sum(static_cast<size_t>((width + 1) * (height + 1)), 0.0);
  auto at = [&](int64_t x, int64_t y) -> double& {
    return sum[static_cast<size_t>(y * (width + 1) + x)];
  };
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x) {
      at(x + 1, y + 1) =
          plane[static_cast<size_t>(y * width + x)] + at(x, y + 1) + at(x + 1, y) - at(x, y);
    }
  }
  Plane out(plane.size());
  for (int64_t y = 0; y < height; ++y) {
    const int64_t y0 = std::max<int64_t>(0, y - r), y1 = std::min(height, y + r + 1);
    for (int64_t x = 0; x < width; ++x) {
      const int64_t x0 = std::max<int64_t>(0, x - r), x1 = std::min(width, x + r + 1);
      const double total = at(x1, y1) - at(x0, y1) - at(x1, y0) + at(x0, y0);
      out[static_cast<size_t>(y * width + x)] =
          static_cast<float>(total / static_cast<double>((x1 - x0) * (y1 - y0)));
    }
  }
  return out;
}

// Labels the 8-connected components of `mask`; returns each pixel's label (-1 outside the mask)
// and fills `areas` with each label's pixel count.
std::vector<int32_t> components(const std::vector<uint8_t>& mask, int64_t width, int64_t height,
                                std::vector<int64_t>* areas) {
  std::vector<int32_t> label(mask.size(), -1);
  std::vector<int64_t> stack;
  for (size_t start = 0; start < mask.size(); ++start) {
    if (!mask[start] || label[start] >= 0) continue;
    const auto id = static_cast<int32_t>(areas->size());
    areas->push_back(0);
    label[start] = id;
    stack.assign(1, static_cast<int64_t>(start));
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      ++areas->back();
      const int64_t px = p % width, py = p / width;
      for (int64_t dy = -1; dy <= 1; ++dy) {
        for (int64_t dx = -1; dx <= 1; ++dx) {
          const int64_t x = px + dx, y = py + dy;
          if (x < 0 || y < 0 || x >= width || y >= height) continue;
          const auto q = static_cast<size_t>(y * width + x);
          if (mask[q] && label[q] < 0) {
            label[q] = id;
            stack.push_back(static_cast<int64_t>(q));
          }
        }
      }
    }
  }
  return label;
}

std::string format(const char* what, double value) {
  std::ostringstream out;
  out << what << std::lround(value);
  return out.str();
}

// Places `digit` (h, w) in a zero frame of `shape` with its centre of mass at the frame's centre
// (rounded to a whole pixel, kept inside the frame), then stretches it so its brightest pixel is
// 255, as MNIST's digits are.
torch::Tensor centre_by_mass(const torch::Tensor& digit, const ImageShape& shape) {
  const int64_t h = digit.size(0), w = digit.size(1);
  const double mass = digit.sum().item<double>();
  const auto rows = torch::arange(h, torch::kFloat64) + 0.5;
  const auto cols = torch::arange(w, torch::kFloat64) + 0.5;
  const double cy = (digit.sum(1) * rows).sum().item<double>() / mass;
  const double cx = (digit.sum(0) * cols).sum().item<double>() / mass;
  const int64_t top = std::clamp<int64_t>(
      std::lround(static_cast<double>(shape.height) / 2 - cy), 0, shape.height - h);
  const int64_t left = std::clamp<int64_t>(
      std::lround(static_cast<double>(shape.width) / 2 - cx), 0, shape.width - w);
  auto frame = torch::zeros({shape.height, shape.width}, torch::kFloat64);
  frame.narrow(0, top, h).narrow(1, left, w).copy_(digit);
  const double peak = frame.max().item<double>();
  if (peak > 0) frame.mul_(255.0 / peak);
  return frame.round().clamp(0, 255).to(torch::kUInt8).unsqueeze(0).contiguous();
}

}  // namespace

PreparedDigit prepare_digit(const PixelImage& image, const ImageShape& shape, Invert invert) {
  VIT_CHECK(shape.channels == 1, "digit preparation is for 1-channel models, not ",
            shape.channels);
  VIT_CHECK(image.width > 0 && image.height > 0 && image.channels > 0, "an image of ",
            image.width, "x", image.height, " pixels");
  const int64_t width = image.width, height = image.height;
  PreparedDigit out;
  out.image = torch::zeros({1, shape.height, shape.width}, torch::kUInt8);

  // Which side is ink: the tail of the histogram farther from the paper (the border's median).
  Plane gray = to_gray(image);
  const int64_t ring = std::max<int64_t>(1, std::min(width, height) / 50);
  Plane edge = border(gray, width, height, ring);
  const float paper_raw = quantile(edge, 0.5);
  const float dark = paper_raw - quantile(gray, 0.001);
  const float bright = quantile(gray, 0.999) - paper_raw;
  out.inverted = invert == Invert::kYes || (invert == Invert::kAuto && dark > bright);
  if (out.inverted) {
    for (float& v : gray) v = 255.0f - v;
    for (float& v : edge) v = 255.0f - v;
  }
  out.paper = quantile(edge, 0.5);
  for (float& v : edge) v = std::fabs(v - static_cast<float>(out.paper));
  out.noise = 1.4826 * quantile(edge, 0.5);  // the median absolute deviation, as a sigma

  // Where the digit is: a blur takes the noise down, the half-way level between paper and the
  // brightest ink separates them, and the components of at least a tenth of the largest one's
  // area are the digit (strokes a pen left apart stay in; specks and dust go).
  const int64_t r = std::max<int64_t>(1, std::lround(std::min(width, height) / 100.0));
  const Plane blurred = box_blur(gray, width, height, r);
  const float peak = *std::max_element(blurred.begin(), blurred.end());
  const double contrast = peak - out.paper;
  const double blurred_noise = out.noise / static_cast<double>(2 * r + 1);
  if (contrast < std::max(24.0, 8 * blurred_noise)) {
    out.warnings.push_back(format("no digit stands out of the background (contrast ", contrast) +
                           " levels of 255)");
    return out;
  }
  const float threshold = static_cast<float>(out.paper + contrast / 2);
  std::vector<uint8_t> mask(blurred.size());
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = blurred[i] > threshold;
  std::vector<int64_t> areas;
  const std::vector<int32_t> label = components(mask, width, height, &areas);
  const int64_t largest = *std::max_element(areas.begin(), areas.end());
  int64_t x0 = width, y0 = height, x1 = -1, y1 = -1, ink_area = 0;
  Plane ink;
  std::vector<float> kept(mask.size(), 0.0f);
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x) {
      const auto i = static_cast<size_t>(y * width + x);
      if (label[i] < 0 || areas[static_cast<size_t>(label[i])] * 10 < largest) continue;
      kept[i] = 1;
      ink.push_back(gray[i]);
      ++ink_area;
      x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
    }
  }
  const int64_t side = std::max(x1 - x0, y1 - y0) + 1;  // of the strokes at half height
  // The mask is the strokes at half height: their faint edges reach about r further.
  x0 = std::max<int64_t>(0, x0 - r), y0 = std::max<int64_t>(0, y0 - r);
  x1 = std::min(width - 1, x1 + r), y1 = std::min(height - 1, y1 + r);
  out.box = DigitBox{x0, y0, x1 - x0 + 1, y1 - y0 + 1};
  out.ink = quantile(ink, 0.9);
  out.found = true;

  // Levels: paper and its noise to 0, the ink to 255; nothing far from the strokes survives.
  const double low = std::min(out.paper + 3 * out.noise, out.ink - 1);
  const Plane near = box_blur(kept, width, height, 2 * r + 1);
  auto crop = torch::zeros({out.box.height, out.box.width}, torch::kFloat64);
  auto c = crop.accessor<double, 2>();
  for (int64_t y = 0; y < out.box.height; ++y) {
    for (int64_t x = 0; x < out.box.width; ++x) {
      const auto i = static_cast<size_t>((y + y0) * width + (x + x0));
      if (near[i] <= 0) continue;
      c[y][x] = std::clamp((gray[i] - low) / (out.ink - low), 0.0, 1.0) * 255.0;
    }
  }

  // Fitted into the box keeping its aspect ratio, area averaged, then centred by mass.
  const double box_h = std::round(static_cast<double>(shape.height) * kBoxShare);
  const double box_w = std::round(static_cast<double>(shape.width) * kBoxShare);
  const double scale = std::min(box_h / static_cast<double>(out.box.height),
                                box_w / static_cast<double>(out.box.width));
  const int64_t h = std::max<int64_t>(1, std::lround(static_cast<double>(out.box.height) * scale));
  const int64_t w = std::max<int64_t>(1, std::lround(static_cast<double>(out.box.width) * scale));
  const auto fitted = torch::matmul(torch::matmul(area_weights(out.box.height, h), crop),
                                    area_weights(out.box.width, w).t());
  if (fitted.sum().item<double>() <= 0) {
    out.found = false;
    out.warnings.push_back("no digit stands out of the background (nothing above its noise)");
    return out;
  }
  out.image = centre_by_mass(fitted, shape);

  // What is still unlike MNIST.
  if (side < 12) {
    out.warnings.push_back(format("the digit is only ", static_cast<double>(side)) +
                           " pixels high or wide in the image: enlarged, it is blurred");
  }
  if (out.ink - out.paper < 64) {
    out.warnings.push_back(format("low contrast: the ink is ", out.ink - out.paper) +
                           " levels of 255 from the paper");
  }
  if (out.noise > (out.ink - out.paper) / 6) {
    out.warnings.push_back(format("the background is not plain (noise ", out.noise) +
                           " levels against a contrast of " +
                           std::to_string(std::lround(out.ink - out.paper)) + ")");
  }
  if (ink_area * 3 > width * height) {
    out.warnings.push_back(format("the 'ink' covers ", 100.0 * static_cast<double>(ink_area) /
                                                           static_cast<double>(width * height)) +
                           "% of the image: not one digit on plain paper");
  }
  return out;
}

}  // namespace vit
