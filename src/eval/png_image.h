// An 8-bit RGB image in memory and its PNG file, written with libpng (Debian's libpng-dev; builds
// without it, see VIT_PNG in CMakeLists.txt, have the image but cannot write it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vit {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

class RgbImage {
 public:
  // A width x height image filled with `background`; both sides must be positive.
  RgbImage(int64_t width, int64_t height, Rgb background = {});

  int64_t width() const { return width_; }
  int64_t height() const { return height_; }
  Rgb at(int64_t x, int64_t y) const;
  // Pixels outside the image are ignored, so drawing near an edge needs no clipping.
  void set(int64_t x, int64_t y, Rgb color);
  void fill(int64_t x, int64_t y, int64_t w, int64_t h, Rgb color);
  // Row-major bytes r, g, b of every pixel: what libpng writes.
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  int64_t width_;
  int64_t height_;
  std::vector<uint8_t> bytes_;
};

// Whether this build has libpng (CMake option VIT_PNG): without it write_png only throws.
bool png_supported();

// Writes `image` to `path` as an 8-bit RGB PNG (atomically). Throws vit::Error naming the file.
void write_png(const std::string& path, const RgbImage& image);

}  // namespace vit
