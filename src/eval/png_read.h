// Reading PNG files with libpng (the counterpart of png_image.h's writer): any colour type and
// bit depth, decoded to 8-bit gray or RGB samples, for classifying a user's own images.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vit {

// The largest width or height read_png accepts: 8192 (a 256 MB float copy at most when resized),
// far above any digit photo or scan, and a guard against a header that promises gigapixels.
constexpr int64_t kMaxPngSide = 8192;

// Decoded pixels: 8-bit samples, row-major, `channels` (1 gray, 3 RGB) per pixel.
struct PixelImage {
  int64_t width = 0;
  int64_t height = 0;
  int64_t channels = 0;
  std::vector<uint8_t> samples;  // width * height * channels

  uint8_t at(int64_t x, int64_t y, int64_t channel = 0) const {
    return samples[static_cast<size_t>((y * width + x) * channels + channel)];
  }
};

// Reads the PNG at `path` as `channels` (1 or 3) 8-bit samples per pixel, whatever its colour
// type (gray, gray+alpha, RGB, RGBA, palette, with or without tRNS) and bit depth (1 to 16):
// palettes and low bit depths expanded, 16 bits scaled to 8, RGB turned to gray with libpng's
// default luminance weights (or gray copied to RGB), and alpha composited against white (what a
// viewer shows on a page; a dark digit drawn on transparency becomes a dark digit on white).
// Throws vit::Error naming `path` when it is missing, empty, not a PNG, truncated or damaged,
// has a zero or too large side, or when this build has no libpng.
PixelImage read_png(const std::string& path, int64_t channels);

}  // namespace vit
